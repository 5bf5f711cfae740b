import DroveAPI
import DroveEngine
import DroveManifest
import DrovePlan
import DroveStore
import DroveTestSupport
import Foundation
import Logging
import Testing
@testable import DroveController

/// The controller as one fleet, over in-memory hosts: no libvirt, no QEMU, seconds to run.
/// Several sets applied at once share host limits, capacity and template copies; status says
/// what users mean by ready; events keep the view current without re-reading hosts.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ControllerCoreTests {
    /// A running controller over fake hosts, with a store in a directory of its own.
    final class Harness: Sendable {
        let directory: URL
        let store: Store
        let controller: Controller
        let hosts: [FakeHost]
        let task: Task<Void, Never>
        let templateFile: URL

        init(hosts: [FakeHost], workers: Int = 4) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("drove-core-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            templateFile = directory.appendingPathComponent("tiny.img")
            try Data((0..<4096).map { UInt8($0 % 251) }).write(to: templateFile)
            store = try Store(path: directory.appendingPathComponent("drove.sqlite").path)
            self.hosts = hosts
            let options = Controller.Options(
                workers: workers, resync: .init(interval: .seconds(3600)), progressRequeue: .milliseconds(50),
                limits: ExecutionLimits(global: 64, attempts: 3, backoff: .milliseconds(5)),
                policy: ManifestPolicy(testDriver: true, templateFiles: .anywhere))
            let controller = Controller(store: store, options: options, connector: FakeConnector(hosts),
                                        logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            self.controller = controller
            task = Task { await controller.run() }
        }

        /// Runs a test's body, records what it threw (a timed-out wait has recorded itself), and
        /// stops the controller and removes its files whatever happened.
        func run(_ body: () async throws -> Void) async {
            do {
                try await body()
            } catch is CancellationError {
            } catch {
                Issue.record(error)
            }
            await stop()
        }

        func stop() async {
            task.cancel()
            await task.value
            try? store.close()
            try? FileManager.default.removeItem(at: directory)
        }

        func hostsYAML(maxParallel: Int = 4, cpus overcommit: Double = 4) -> String {
            hosts.map { """
                apiVersion: drove/v1
                kind: Host
                metadata: { name: \($0.name) }
                spec: { uri: "test:///default", domainType: qemu, maxParallel: \(maxParallel), overcommit: { cpu: \(overcommit) } }
                """ }.joined(separator: "\n---\n")
        }

        func templateYAML(readiness: Readiness = .agent, path: String? = nil) -> String {
            """
            apiVersion: drove/v1
            kind: Template
            metadata: { name: tiny }
            spec: { source: { path: "\(path ?? templateFile.path)" }, format: raw, readiness: \(readiness.rawValue) }
            """
        }

        func setYAML(_ name: String, replicas: Int, memory: String = "64Mi", maxUnavailable: Int = 1) -> String {
            """
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: \(name) }
            spec: { replicas: \(replicas), template: tiny, resources: { memory: \(memory) }, updateStrategy: { maxUnavailable: \(maxUnavailable) } }
            """
        }

        /// Stores the documents as one apply (the store's change feed wakes the controller).
        func apply(_ documents: [String]) async throws {
            let source = ManifestSource(name: "fleet.yaml", text: documents.joined(separator: "\n---\n"), baseDirectory: directory.path)
            let manifest = try ManifestLoader(policy: ManifestPolicy(testDriver: true)).load(sources: [source])
            _ = try await store.apply(try AppliedObject.objects(in: manifest, sources: [source]))
        }

        func status(_ name: String, kind: ObjectKind = .vmSet) async -> ObjectStatus? {
            try? await store.status(kind: kind, name: name)
        }

        func reason(_ set: String, _ type: ConditionType, kind: ObjectKind = .vmSet) async -> String? {
            await status(set, kind: kind)?.condition(type)?.reason
        }

        /// Waits until `condition` holds, or fails the test naming `what`.
        func wait(_ what: String, timeout: Duration = .seconds(20), _ condition: () async -> Bool) async throws {
            try await waitUntil(what, timeout: timeout, condition)
        }

        func isReady(_ set: String) async -> Bool {
            await reason(set, .ready) == ConditionReason.allReplicasReady.rawValue
        }

        func allVMs() -> [ObservedVM] {
            hosts.flatMap { $0.state.withLock { Array($0.vms.values) } }
        }
    }

    @Test("four sets sharing a template not yet on the hosts, applied at once: one upload per host, no failed action")
    func copyRace() async throws {
        let hosts = (1...3).map { FakeHost(name: "node-\($0)", copyDelay: .milliseconds(300)) }
        let harness = try Harness(hosts: hosts, workers: 4)
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML()] + ["a", "b", "c", "d"].map { harness.setYAML($0, replicas: 3) })
            for set in ["a", "b", "c", "d"] {
                try await harness.wait("\(set) is Ready") { await harness.isReady(set) }
            }
            for host in hosts {
                let state = host.state.withLock { $0 }
                #expect(state.uploads.values.reduce(0, +) == 1, "\(host.name): \(state.uploads)")
                #expect(state.deletedWhileUploading == 0)
            }
            let failures = try await harness.store.events(after: 0, limit: 1000).filter { $0.reason == EventReason.actionFailed.rawValue }
            #expect(failures.isEmpty, "\(failures.map(\.message))")
            #expect(harness.allVMs().count == 12)
        }
    }

    @Test("several sets at once on maxParallel 2 hosts: at most 2 actions per host, capacity claimed, never overcommitted")
    func sharedLimitsAndClaims() async throws {
        // 2 CPUs × overcommit 2 = 4 vCPUs per host, 8 in all, for 3 sets of 4 one-vCPU VMs.
        let hosts = (1...2).map { FakeHost(name: "node-\($0)", delay: .milliseconds(10), cpus: 2) }
        let harness = try Harness(hosts: hosts, workers: 4)
        await harness.run {
            try await harness.apply([harness.hostsYAML(maxParallel: 2, cpus: 2), harness.templateYAML(readiness: .running)]
                + ["a", "b", "c"].map { harness.setYAML($0, replicas: 4) })
            try await harness.wait("every host is full, the sets say so, and the rest is unschedulable") {
                var present = 0, unschedulable = 0
                for set in ["a", "b", "c"] {
                    let status = await harness.status(set)
                    present += status?.counters["present"] ?? 0
                    if status?.condition(.ready)?.reason == ConditionReason.unschedulable.rawValue { unschedulable += 1 }
                }
                return harness.allVMs().count == 8 && present == 8 && unschedulable >= 1
            }
            for host in hosts {
                let (peak, vcpus) = host.state.withLock { ($0.maxRunning, $0.vms.values.reduce(0) { $0 + $1.vcpus }) }
                #expect(peak <= 2, "\(host.name) ran \(peak) actions at once")
                #expect(vcpus <= 4, "\(host.name) holds \(vcpus) vCPUs for 4")
            }
            let degraded = await [harness.reason("a", .degraded), harness.reason("b", .degraded), harness.reason("c", .degraded)]
            #expect(degraded.contains(ConditionReason.unschedulable.rawValue))
        }
    }

    @Test("Ready waits for the guests when the template can tell; Available, WaitingForGuests, Converged on the way")
    func readinessFromTheGuest() async throws {
        let hosts = [FakeHost(name: "node-1", guestsReport: false)]
        let harness = try Harness(hosts: hosts)
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML(readiness: .agent), harness.setYAML("web", replicas: 3, maxUnavailable: 1)])
            try await harness.wait("all 3 run") { harness.allVMs().filter { $0.state == .running }.count == 3 }
            try await harness.wait("the set waits for its guests") {
                await harness.reason("web", .progressing) == ConditionReason.waitingForGuests.rawValue
            }
            #expect(await harness.reason("web", .ready) == ConditionReason.replicasNotReady.rawValue)
            #expect(await harness.reason("web", .available) == ConditionReason.tooFewReplicasAvailable.rawValue)
            #expect(await harness.status("web")?.details.readiness == "agent")
            let phases = await harness.controller.vms().map(\.phase)
            #expect(phases == [.starting, .starting, .starting])

            // Two guests open their agent channel: available (3 - maxUnavailable 1), not yet ready.
            for vm in ["web-0", "web-1"] {
                hosts[0].outside({ $0.vms[vm]?.agentConnected = true }, event: vm, .agentConnected)
            }
            try await harness.wait("available") { await harness.reason("web", .available) == ConditionReason.minimumReplicasAvailable.rawValue }
            #expect(await harness.reason("web", .ready) == ConditionReason.replicasNotReady.rawValue)
            hosts[0].outside({ $0.vms["web-2"]?.agentConnected = true }, event: "web-2", .agentConnected)
            try await harness.wait("ready") { await harness.isReady("web") }
            #expect(await harness.reason("web", .progressing) == ConditionReason.converged.rawValue)
            #expect(await harness.reason("web", .degraded) == ConditionReason.noProblems.rawValue)
            #expect(await harness.controller.vms().map(\.phase) == [.running, .running, .running])
            // Events did it: the host was read in full once, when it connected.
            #expect(harness.controller.view.observations(of: "node-1") == 1)
        }
    }

    @Test("forty sets in one apply, eight workers: every one is reconciled (no pass plans from a stale read)")
    func manySetsAtOnce() async throws {
        let hosts = (1...4).map { FakeHost(name: "node-\($0)", cpus: 64) }
        let harness = try Harness(hosts: hosts, workers: 8)
        await harness.run {
            // Hosts first, read and connected; then the sets, as one apply that every worker races on.
            try await harness.apply([harness.hostsYAML(), harness.templateYAML()])
            try await harness.wait("hosts connected") {
                var connected = 0
                for host in hosts where await harness.reason(host.name, .ready, kind: .host) == ConditionReason.connected.rawValue { connected += 1 }
                return connected == hosts.count
            }
            try await harness.apply([harness.templateYAML()] + (0..<40).map { harness.setYAML("m\($0)", replicas: 2) })
            try await harness.wait("all 80 VMs") { harness.allVMs().count == 80 }
            for index in 0..<40 { try await harness.wait("m\(index) ready") { await harness.isReady("m\(index)") } }
        }
    }

    @Test("a set deleted together with a host it runs on: its VMs there are removed too, then the host is pruned")
    func setAndHostDeletedTogether() async throws {
        let hosts = (1...2).map { FakeHost(name: "node-\($0)") }
        let harness = try Harness(hosts: hosts)
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 4)])
            try await harness.wait("ready") { await harness.isReady("web") }
            #expect(hosts[1].state.withLock { $0.vms.count } > 0)
            _ = try await harness.store.delete([ObjectReference(kind: .vmSet, name: "web"), ObjectReference(kind: .host, name: "node-2")])
            try await harness.wait("set and host pruned") {
                let set = try? await harness.store.object(kind: .vmSet, name: "web")
                let host = try? await harness.store.object(kind: .host, name: "node-2")
                return set == nil && host == nil
            }
            #expect(harness.allVMs().isEmpty, "left: \(harness.allVMs().map(\.name))")
            #expect(hosts[1].state.withLock { $0.disks.isEmpty })
        }
    }

    @Test("a converged resync observes each host once and changes nothing")
    func resyncReadsEachHostOnce() async throws {
        let hosts = (1...3).map { FakeHost(name: "node-\($0)") }
        let harness = try Harness(hosts: hosts)
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML()] + (0..<10).map { harness.setYAML("s\($0)", replicas: 3) })
            for index in 0..<10 { try await harness.wait("s\(index) ready") { await harness.isReady("s\(index)") } }
            let before = hosts.map { $0.state.withLock { ($0.observations, $0.performed.count, $0.domainReads) } }
            await harness.controller.view.refreshAll()
            await harness.controller.enqueueAllSets()
            try await Task.sleep(for: .milliseconds(300))
            let after = hosts.map { $0.state.withLock { ($0.observations, $0.performed.count, $0.domainReads) } }
            for (old, new) in zip(before, after) {
                #expect(new.0 == old.0 + 1, "one full observation per host per resync")
                #expect(new.1 == old.1, "no action on a converged fleet")
                #expect(new.2 == old.2, "no single-domain reads either")
            }
        }
    }

    @Test("a VM removed behind Drove's back comes back, from its event alone")
    func driftRepairedFromAnEvent() async throws {
        let hosts = [FakeHost(name: "node-1")]
        let harness = try Harness(hosts: hosts)
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 2)])
            try await harness.wait("ready") { await harness.isReady("web") }
            hosts[0].outside({ $0.vms["web-1"] = nil }, event: "web-1", .undefined)
            try await harness.wait("web-1 is back and ready") {
                let back = hosts[0].state.withLock { $0.vms["web-1"]?.agentConnected == true }
                return back ? await harness.isReady("web") : false
            }
            #expect(harness.controller.view.observations(of: "node-1") == 1)
        }
    }

    @Test("a host lost: its VMs are Unknown, the set says HostUnreachable, nothing is made elsewhere; back, it converges")
    func hostLostAndBack() async throws {
        let hosts = (1...2).map { FakeHost(name: "node-\($0)") }
        let harness = try Harness(hosts: hosts)
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 4)])
            try await harness.wait("ready") { await harness.isReady("web") }
            let onTwo = hosts[1].state.withLock { $0.vms.count }
            hosts[1].kill()
            try await harness.wait("HostUnreachable") { await harness.reason("web", .ready) == ConditionReason.hostUnreachable.rawValue }
            // The host's own status is written apart from the set's: under load it may come second.
            try await harness.wait("node-2 Unreachable") { await harness.reason("node-2", .ready, kind: .host) == ConditionReason.unreachable.rawValue }
            let unknown = await harness.controller.vms().filter { $0.phase == .unknown }
            #expect(unknown.count == onTwo && unknown.allSatisfy { $0.host == "node-2" })
            #expect(hosts[0].state.withLock { $0.vms.count } == 4 - onTwo, "nothing made elsewhere")
            hosts[1].revive()
            try await harness.wait("ready again") { await harness.isReady("web") }
            #expect(await harness.reason("node-2", .ready, kind: .host) == ConditionReason.connected.rawValue)
        }
    }

    @Test("a host found dark by a read (before its connection says so): its VMs are Unknown, not made again elsewhere")
    func hostFoundDarkByARead() async throws {
        let hosts = (1...2).map { FakeHost(name: "node-\($0)") }
        let harness = try Harness(hosts: hosts)
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 4)])
            try await harness.wait("ready") { await harness.isReady("web") }
            let onTwo = hosts[1].state.withLock { $0.vms.count }
            // The daemon stops answering, but the connection has not closed yet: the next
            // observation is what finds it dark.
            hosts[1].state.withLock { $0.unreachable = "connection reset" }
            await harness.controller.resync()
            try await harness.wait("HostUnreachable") { await harness.reason("web", .ready) == ConditionReason.hostUnreachable.rawValue }
            let unknown = await harness.controller.vms().filter { $0.phase == .unknown }
            #expect(unknown.count == onTwo && unknown.allSatisfy { $0.host == "node-2" })
            #expect(hosts[0].state.withLock { $0.vms.count } == 4 - onTwo, "nothing made elsewhere")
        }
    }

    @Test("a copy that fails shows on the template, per host, with its cause; fixed, it is present")
    func copyFailure() async throws {
        let hosts = [FakeHost(name: "node-1")]
        hosts[0].state.withLock { $0.failures["copy-template"] = (remaining: 100, transient: false) }
        let harness = try Harness(hosts: hosts)
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 1)])
            try await harness.wait("CopyFailed") { await harness.reason("tiny", .degraded, kind: .template) == ConditionReason.copyFailed.rawValue }
            let copy = await harness.status("tiny", kind: .template)?.details.hosts?["node-1"]
            #expect(copy?.state == .failed && copy?.message?.contains("injected failure") == true)
            hosts[0].state.withLock { $0.failures = [:] }
            try await harness.wait("present") { await harness.status("tiny", kind: .template)?.details.hosts?["node-1"]?.state == .present }
            try await harness.wait("ready") { await harness.isReady("web") }
        }
    }

    /// Each reason the controller gives is asserted by a test in this suite or GuestReadinessTests
    /// (a GitSource's, by DroveGitOpsTests); a new reason without one fails here.
    @Test func everyConditionReasonIsTested() {
        let tested: Set<ConditionReason> = [
            .allReplicasReady, .replicasNotReady, .rollingOut, .hostUnreachable, .templateUnreadable, .unschedulable, .deleting,
            .minimumReplicasAvailable, .tooFewReplicasAvailable, .reconciling, .waitingForGuests, .converged, .copying,
            .noProblems, .actionsFailed, .copyFailed, .connected, .unreachable, .readable, .hostCheckFailed,
        ]
        let gitSource: Set<ConditionReason> = [
            .revisionApplied, .fetchFailed, .refNotFound, .invalidRevision, .ownershipConflict, .pruneRefused, .applyFailed,
            .waitingForFleet, .suspended,
        ]
        #expect(tested == Set(ConditionReason.allCases).subtracting(gitSource))
    }

    @Test("failures, rollouts, deletion and templates carry their reasons")
    func reasons() async throws {
        let hosts = [FakeHost(name: "node-1", copyDelay: .milliseconds(200))]
        let harness = try Harness(hosts: hosts)
        await harness.run {
            // The template cannot be read.
            try await harness.apply([harness.hostsYAML(), harness.templateYAML(path: "/nonexistent/tiny.img"), harness.setYAML("web", replicas: 2)])
            try await harness.wait("TemplateUnreadable") { await harness.reason("web", .ready) == ConditionReason.templateUnreadable.rawValue }
            try await harness.wait("the template says so too") {
                await harness.reason("tiny", .degraded, kind: .template) == ConditionReason.templateUnreadable.rawValue
            }

            // Readable: the copy shows as Copying on the template while it runs, then Readable, present.
            try await harness.apply([harness.templateYAML(readiness: .running)])
            try await harness.wait("copying") { await harness.reason("tiny", .progressing, kind: .template) == ConditionReason.copying.rawValue }
            #expect(await harness.status("tiny", kind: .template)?.details.hosts?["node-1"]?.state == .copying)
            try await harness.wait("ready") { await harness.isReady("web") }
            try await harness.wait("template present") {
                await harness.status("tiny", kind: .template)?.details.hosts?["node-1"]?.state == .present
            }
            #expect(await harness.reason("tiny", .ready, kind: .template) == ConditionReason.readable.rawValue)

            // A change rolls out: RollingOut while old VMs remain; defines fail: ActionsFailed.
            hosts[0].state.withLock { $0.failures["define"] = (remaining: 100, transient: false) }
            try await harness.apply([harness.templateYAML(readiness: .running), harness.setYAML("web", replicas: 2, memory: "80Mi")])
            try await harness.wait("ActionsFailed") { await harness.reason("web", .degraded) == ConditionReason.actionsFailed.rawValue }
            #expect(await harness.reason("web", .ready) == ConditionReason.rollingOut.rawValue)
            #expect(await harness.reason("web", .progressing) == ConditionReason.reconciling.rawValue)
            // A retried define shows Creating until it fails again: wait for a moment it shows Failed.
            try await harness.wait("a VM shown Failed with its cause") {
                await harness.controller.vms().contains { $0.phase == .failed && $0.message?.contains("injected failure") == true }
            }
            hosts[0].state.withLock { $0.failures = [:] }
            try await harness.wait("rolled out") { await harness.isReady("web") }

            // Deleted: Deleting while its VMs go (held up here by a failing removal), then pruned
            // with a Deleted event.
            hosts[0].state.withLock { $0.failures["remove"] = (remaining: 100, transient: false) }
            _ = try await harness.store.delete(kind: .vmSet, name: "web")
            try await harness.wait("Deleting") { await harness.reason("web", .ready) == ConditionReason.deleting.rawValue }
            hosts[0].state.withLock { $0.failures = [:] }
            try await harness.wait("pruned") { (try? await harness.store.object(kind: .vmSet, name: "web")) == nil }
            #expect(harness.allVMs().isEmpty)
            let reasons = try await harness.store.events(after: 0, limit: 1000).map(\.reason)
            #expect(reasons.contains(EventReason.deleted.rawValue))
        }
    }

    @Test("a Template deleted with its set: the set's VMs go, then the template's copies on every host, then the object")
    func deletedTemplateTakesItsCopies() async throws {
        let hosts = (1...2).map { FakeHost(name: "node-\($0)") }
        let harness = try Harness(hosts: hosts)
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML(readiness: .running), harness.setYAML("web", replicas: 3)])
            try await harness.wait("web is Ready") { await harness.isReady("web") }
            #expect(hosts.allSatisfy { host in host.state.withLock { !$0.templates.isEmpty } })

            _ = try await harness.store.delete([ObjectReference(kind: .vmSet, name: "web"), ObjectReference(kind: .template, name: "tiny")])
            try await harness.wait("the template is pruned") { (try? await harness.store.object(kind: .template, name: "tiny")) == nil }
            for host in hosts {
                let left = host.state.withLock { ($0.vms.count, $0.templates.count) }
                #expect(left.0 == 0 && left.1 == 0, "\(host.name) still holds \(left.0) VMs and \(left.1) template copies")
            }
            let events = try await harness.store.events(after: 0, limit: 1000).filter { $0.object == ObjectReference(kind: .template, name: "tiny") }
            #expect(events.contains { $0.reason == EventReason.deleted.rawValue && $0.message.contains("its copies on every host") })
        }
    }
}
