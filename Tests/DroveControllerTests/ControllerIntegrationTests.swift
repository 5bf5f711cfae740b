import DroveManifest
import DrovePlan
import DroveStore
import DroveTestSupport
import Foundation
import Libvirt
import Logging
import Testing
import DroveLab
@testable import DroveController

/// The controller on three lab hosts: apply, reach Ready, repair drift at once from a domain
/// event, hand a rollout over to a new controller on the same store without duplicates, and
/// delete. (The old one is stopped gracefully here; `drove serve` killed with SIGKILL at a moment
/// proven mid-rollout is FaultSampleTests' and the fault campaign's, docs/reliability.md.)
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(10)))
struct ControllerIntegrationTests {
    let suffix = String(UUID().uuidString.prefix(4).lowercased())
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-ctl-\(UUID().uuidString.prefix(6))")

    func yaml(replicas: Int, memory: String, template: String, lab: String = LabHost.directory, hosts count: Int = 3) throws -> String {
        let hosts = try #require(LabHost.hostsYAML(count: count, in: lab), "CI needs \(count) lab hosts")
        return hosts + """

            ---
            apiVersion: drove/v1
            kind: Template
            metadata: { name: tiny }
            spec: { source: { path: "\(template)" } }
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: ctl\(suffix) }
            spec: { replicas: \(replicas), template: tiny, resources: { memory: \(memory) }, updateStrategy: { maxUnavailable: 1 } }
            """
    }

    func apply(_ text: String, to store: Store) async throws {
        let source = ManifestSource(name: "test.yaml", text: text, baseDirectory: scratch.path)
        let manifest = try ManifestLoader().load(sources: [source])
        _ = try await store.apply(try AppliedObject.objects(in: manifest, sources: [source]))
    }

    /// Waits until `check` holds for the set's status, returning it.
    func waitFor(_ store: Store, seconds: Int = 240, _ check: (ObjectStatus) -> Bool) async throws -> ObjectStatus? {
        for _ in 0..<(seconds * 4) {
            if let status = try await store.status(kind: .vmSet, name: "ctl\(suffix)"), check(status) { return status }
            try await Task.sleep(for: .milliseconds(250))
        }
        return try await store.status(kind: .vmSet, name: "ctl\(suffix)")
    }

    func domains(named prefix: String, lab: String = LabHost.directory, hosts: Int = 3) async throws -> [String: [String]] {
        var found: [String: [String]] = [:]
        for index in 1...hosts {
            let connection = try await Connection.open(try #require(LabHost.uri(index, in: lab)))
            for domain in try await connection.listAllDomains() where domain.name.hasPrefix(prefix) {
                found[domain.name, default: []].append("node-\(index)")
            }
            await connection.close()
        }
        return found
    }

    func isReady(_ status: ObjectStatus) -> Bool {
        status.condition(.ready)?.status == .true
    }

    @Test func applyRepairRestartAndDelete() async throws {
        let template = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let path = scratch.appendingPathComponent("drove.sqlite").path
        let set = "ctl\(suffix)"
        let options = Controller.Options(resync: .init(interval: .seconds(20)), policy: ManifestPolicy(templateFiles: .anywhere))

        var store = try Store(path: path)
        try await apply(yaml(replicas: 4, memory: "96Mi", template: template), to: store)
        let first = Controller(store: store, options: options, logger: Logger(label: "test"))
        var running = Task { await first.run() }

        // Apply reaches Ready.
        var status = try await waitFor(store) { isReady($0) }
        #expect(status.map(isReady) == true, "\(String(describing: status))")
        #expect(status?.counters["running"] == 4)
        #expect(status?.observedGeneration == 1)

        // Drift: destroy a VM behind Drove's back; the stopped event brings it back well
        // before the 20 s resync.
        let placed = try await domains(named: "\(set)-")
        let victim = try #require(placed["\(set)-0"]?.first)
        let connection = try await Connection.open(try #require(LabHost.uri(Int(victim.dropFirst(5))!)))
        try await connection.domain(named: "\(set)-0")?.destroy()
        var repaired = false
        for _ in 0..<60 {
            if try await connection.domain(named: "\(set)-0")?.state() == .running { repaired = true; break }
            try await Task.sleep(for: .milliseconds(250))
        }
        await connection.close()
        #expect(repaired, "the destroyed VM was not started again within 15 s")
        let events = try await store.events(after: 0, limit: 500, object: ObjectReference(kind: .vmSet, name: set))
        #expect(events.contains { $0.reason == "Started" && $0.message.contains("\(set)-0") })

        // A rollout, and the controller stopped (cancelled: its workers finish their keys) once it
        // has begun, that is once a VM was removed.
        try await apply(yaml(replicas: 4, memory: "112Mi", template: template), to: store)
        for _ in 0..<120 {
            let removed = try await store.events(after: 0, limit: 1000, object: ObjectReference(kind: .vmSet, name: set))
                .contains { $0.reason == "Removed" }
            if removed { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        running.cancel()
        await running.value
        try store.close()

        // A new controller with an empty memory, on the same store.
        store = try Store(path: path)
        let second = Controller(store: store, options: options, logger: Logger(label: "test"))
        running = Task { await second.run() }
        status = try await waitFor(store) { isReady($0) && $0.observedGeneration == 2 }
        #expect(status.map(isReady) == true, "\(String(describing: status))")
        let after = try await domains(named: "\(set)-")
        #expect(after.keys.sorted() == (0..<4).map { "\(set)-\($0)" })
        #expect(after.values.allSatisfy { $0.count == 1 }, "a VM exists twice: \(after)")

        // Delete: every VM goes, and the object is pruned.
        _ = try await store.delete(kind: .vmSet, name: set)
        var gone = false
        for _ in 0..<480 {
            if try await store.object(kind: .vmSet, name: set) == nil { gone = true; break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(gone)
        #expect(try await domains(named: "\(set)-").isEmpty)
        running.cancel()
        await running.value
        try store.close()
    }
}

/// A host's libvirtd killed in the middle of a rollout: the other host finishes, the set shows
/// the lost host's VMs as unknown, and the rollout completes when the host is back. It kills a
/// host, so it runs on a lab of its own, not on the one other suites share.
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(10)))
struct HostLossTests {
    @Test func aRolloutWaitsForALostHostAndFinishesWhenItIsBack() async throws {
        let template = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        let labDirectory = "/var/lib/drove/lab-hostloss-\(UUID().uuidString.prefix(6).lowercased())"
        let lab = DroveLab.Lab(directory: URL(fileURLWithPath: labDirectory))
        _ = try await lab.up(hosts: 2)
        do {
            try await scenario(lab: lab, directory: labDirectory, template: template)
        } catch {
            _ = try? await lab.down()
            throw error
        }
        _ = try await lab.down()
        #expect(!FileManager.default.fileExists(atPath: labDirectory))
    }

    func scenario(lab: DroveLab.Lab, directory: String, template: String) async throws {
        let base = ControllerIntegrationTests()
        try FileManager.default.createDirectory(at: base.scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base.scratch) }
        let set = "ctl\(base.suffix)"
        let store = try Store(path: base.scratch.appendingPathComponent("drove.sqlite").path)
        let controller = Controller(store: store, options: Controller.Options(resync: .init(interval: .seconds(5)), policy: ManifestPolicy(templateFiles: .anywhere)),
                                    logger: Logger(label: "test"))
        let running = Task { await controller.run() }

        try await base.apply(base.yaml(replicas: 4, memory: "96Mi", template: template, lab: directory, hosts: 2), to: store)
        var status = try await base.waitFor(store) { base.isReady($0) }
        #expect(status.map(base.isReady) == true)
        let before = try await base.domains(named: "\(set)-", lab: directory, hosts: 2)
        #expect(before.values.contains { $0 == ["node-2"] })

        // Kill node-2's libvirtd (its guests keep running), then change the spec.
        let pidFile = "\(directory)/node-2/run/libvirtd.pid"
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, SIGKILL) == 0)
        try await base.apply(base.yaml(replicas: 4, memory: "112Mi", template: template, lab: directory, hosts: 2), to: store)

        // node-1 rolls; node-2's VMs are unknown and the set is not Ready.
        status = try await base.waitFor(store, seconds: 120) { status in
            status.observedGeneration == 2 && (status.counters["unknown"] ?? 0) > 0
                && status.condition(.ready)?.reason == "HostUnreachable"
        }
        #expect(status?.condition(.ready)?.status == .false)
        #expect(status?.condition(.ready)?.reason == "HostUnreachable", "\(String(describing: status))")

        // Bring node-2 back; the rollout completes there too.
        _ = try await lab.up(hosts: 2)
        status = try await base.waitFor(store, seconds: 240) { base.isReady($0) && $0.observedGeneration == 2 }
        #expect(status.map(base.isReady) == true, "\(String(describing: status))")
        let after = try await base.domains(named: "\(set)-", lab: directory, hosts: 2)
        #expect(after.count == 4 && after.values.allSatisfy { $0.count == 1 })

        running.cancel()
        await running.value
        try store.close()
    }
}
