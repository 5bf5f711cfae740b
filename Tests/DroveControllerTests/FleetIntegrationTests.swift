import DroveManifest
import DroveStore
import DroveTestSupport
import Foundation
import Libvirt
import Logging
import Testing
@testable import DroveController

/// The controller as one fleet on the lab's real daemons: sets applied at once share one upload
/// per host and template, and one set of host limits.
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(10)))
struct FleetIntegrationTests {
    let suffix = String(UUID().uuidString.prefix(4).lowercased())
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-fleet-\(UUID().uuidString.prefix(6))")

    func hostsYAML(maxParallel: Int, cpuOvercommit: Double) throws -> String {
        try (1...3).map { index in
            """
            apiVersion: drove/v1
            kind: Host
            metadata: { name: node-\(index) }
            spec: { uri: "\(try #require(LabHost.uri(index), "CI needs 3 lab hosts"))", domainType: qemu, maxParallel: \(maxParallel), overcommit: { cpu: \(cpuOvercommit) } }
            """
        }.joined(separator: "\n---\n")
    }

    func setYAML(_ name: String, replicas: Int) -> String {
        """
        apiVersion: drove/v1
        kind: VMSet
        metadata: { name: \(name) }
        spec: { replicas: \(replicas), template: fresh, resources: { memory: 96Mi } }
        """
    }

    /// A copy of the tiny image with random bytes after its last cluster (qcow2 ignores them):
    /// it boots the same, but its digest is new, so no lab host holds it yet.
    func freshTemplate() throws -> URL {
        let tiny = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        let url = scratch.appendingPathComponent("fresh.qcow2")
        var data = try Data(contentsOf: URL(fileURLWithPath: tiny))
        data.append(Data((0..<(16 << 20)).map { _ in UInt8.random(in: 0...255) }))
        try data.write(to: url)
        return url
    }

    func start(_ documents: [String]) async throws -> (Store, Controller, Task<Void, Never>) {
        let store = try Store(path: scratch.appendingPathComponent("drove.sqlite").path)
        let source = ManifestSource(name: "fleet.yaml", text: documents.joined(separator: "\n---\n"), baseDirectory: scratch.path)
        _ = try await store.apply(try AppliedObject.objects(in: try ManifestLoader().load(sources: [source]), sources: [source]))
        let controller = Controller(store: store, options: Controller.Options(workers: 4, policy: ManifestPolicy(templateFiles: .anywhere)),
                                    logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        return (store, controller, Task { await controller.run() })
    }

    /// Deletes the sets and waits until they are pruned, then removes the template copies.
    func cleanUp(_ store: Store, sets: [String], task: Task<Void, Never>, digestPrefix: String?) async throws {
        _ = try await store.delete(sets.map { ObjectReference(kind: .vmSet, name: $0) })
        for _ in 0..<240 {
            var left = 0
            for set in sets where try await store.object(kind: .vmSet, name: set) != nil { left += 1 }
            if left == 0 { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        task.cancel()
        await task.value
        try store.close()
        for index in 1...3 {
            let connection = try await Connection.open(try #require(LabHost.uri(index)))
            if let digestPrefix, let pool = try await connection.storagePool(named: "default") {
                for volume in try await pool.listAllVolumes() where volume.name.hasPrefix("drove-tpl-\(digestPrefix)") {
                    try await volume.delete()
                }
            }
            await connection.close()
        }
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Waits until the controller's queue is empty and it has made no libvirt call for a second (bounded).
    func quiet(_ controller: Controller) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(120)
        var calls = CallStatistics.snapshot().calls
        var since = clock.now
        while clock.now - since < .seconds(1) {
            try #require(clock.now < deadline, "the controller did not settle")
            try await Task.sleep(for: .milliseconds(50))
            let now = CallStatistics.snapshot().calls
            let busy = await controller.queue.depth + controller.queue.processingCount + controller.queue.delayedCount > 0
            if busy || now != calls {
                calls = now
                since = clock.now
            }
        }
    }

    @Test("four sets sharing a template no host holds, applied at once with 4 workers: one upload per host, no failed action")
    func oneUploadPerHostAndTemplate() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let template = try freshTemplate()
        let sets = (1...4).map { "up\(suffix)\($0)" }
        let uploadsBefore = CallStatistics.snapshot().mutating["virStorageVolUpload", default: 0]
        let (store, controller, task) = try await start(
            [try hostsYAML(maxParallel: 4, cpuOvercommit: 4),
             "apiVersion: drove/v1\nkind: Template\nmetadata: { name: fresh }\nspec: { source: { path: \"\(template.path)\" }, readiness: agent }"]
                + sets.map { setYAML($0, replicas: 2) })
        var digest: String?
        do {
            var ready = 0
            for _ in 0..<720 where ready < sets.count {
                ready = 0
                for set in sets where try await store.status(kind: .vmSet, name: set)?.condition(.ready)?.reason == ConditionReason.allReplicasReady.rawValue {
                    ready += 1
                }
                if ready < sets.count { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(ready == sets.count, "only \(ready) of \(sets.count) sets became Ready")
            let uploads = CallStatistics.snapshot().mutating["virStorageVolUpload", default: 0] - uploadsBefore
            #expect(uploads == 3, "one upload per host, not per set")
            let failed = try await store.events(after: 0, limit: 5000).filter { $0.reason == EventReason.actionFailed.rawValue }
            #expect(failed.isEmpty, "\(failed.map(\.message))")
            let copies = try await store.status(kind: .template, name: "fresh")?.details.hosts
            #expect(copies?.values.allSatisfy { $0.state == .present } == true && copies?.count == 3, "\(String(describing: copies))")
            digest = await controller.engine.images.images(for: try await controller.desired.state().manifest.templates).images["fresh"]?.digest

            // A resync of the converged fleet changes nothing, counted by libvirt's wrapper. The
            // window holds the resync alone: the controller is idle before it and after it.
            try await quiet(controller)
            let beforeResync = CallStatistics.snapshot()
            await controller.resync()
            try await quiet(controller)
            let resync = CallStatistics.snapshot().since(beforeResync)
            #expect(resync.calls > 0, "the resync read the hosts")
            #expect(resync.mutatingCalls == 0, "the resync changed a host: \(resync.mutating)")
        } catch {
            Issue.record(error)
        }
        try await cleanUp(store, sets: sets, task: task, digestPrefix: digest.map { String($0.prefix(16)) })
    }

    @Test("sets applied at once onto maxParallel 2 hosts: at most 2 calls changing a host at once, no host overcommitted")
    func hostLimitsHoldAcrossSets() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let template = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        let sets = (1...3).map { "lim\(suffix)\($0)" }
        CallStatistics.resetPeaks()
        // 2 CPUs × overcommit 1: room for 2 one-vCPU VMs per host, 6 in all, for 9 replicas.
        let (store, _, task) = try await start(
            [try hostsYAML(maxParallel: 2, cpuOvercommit: 1),
             "apiVersion: drove/v1\nkind: Template\nmetadata: { name: fresh }\nspec: { source: { path: \"\(template)\" } }"]
                + sets.map { setYAML($0, replicas: 3) })
        do {
            var placed = 0, unschedulable = 0
            for _ in 0..<480 {
                placed = 0
                unschedulable = 0
                for set in sets {
                    let status = try await store.status(kind: .vmSet, name: set)
                    placed += status?.counters["running"] ?? 0
                    if status?.condition(.degraded)?.reason == ConditionReason.unschedulable.rawValue { unschedulable += 1 }
                }
                if placed == 6 && unschedulable > 0 { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(placed == 6, "6 VMs fit the hosts")
            #expect(unschedulable > 0, "the rest is reported unschedulable")
            for index in 1...3 {
                let uri = try #require(LabHost.uri(index))
                #expect(CallStatistics.peakMutatingInFlight(uri: uri) <= 2, "node-\(index): \(CallStatistics.peakMutatingInFlight(uri: uri)) at once")
                let connection = try await Connection.open(uri)
                let ours = try await connection.listAllDomains().filter { domain in sets.contains { domain.name.hasPrefix("\($0)-") } }
                await connection.close()
                #expect(ours.count <= 2, "node-\(index) holds \(ours.count) one-vCPU VMs on 2 vCPUs")
            }
        } catch {
            Issue.record(error)
        }
        try await cleanUp(store, sets: sets, task: task, digestPrefix: nil)
    }
}
