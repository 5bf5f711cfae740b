import DroveHost
import DroveManifest
import DrovePlan
import DroveTestSupport
import Synchronization
import Testing
@testable import DroveEngine

/// One engine's limits and template copies hold across every plan carried out at once, as the
/// controller's workers carry out the plans of several VM sets.
@Suite struct SharedLimitsTests {
    let image = TemplateImage(name: "tiny", digest: "d1gest", format: "qcow2", path: "/images/tiny.qcow2",
                              fileBytes: 1 << 20, virtualBytes: 1 << 30)

    func hosts(_ fakes: [FakeHost], maxParallel: Int) -> [Host] {
        fakes.map { Host(metadata: ObjectMeta(name: $0.name), spec: HostSpec(uri: "fake://", domainType: .qemu, maxParallel: maxParallel)) }
    }

    /// A plan that makes `count` VMs of `set` on `host` (template copy first).
    func plan(set: String, count: Int, host: String) -> Plan {
        var actions = [Action(id: 1, host: host, kind: .copyTemplate(image))]
        for ordinal in 0..<count {
            let vm = VMInstance(name: "\(set)-\(ordinal)", set: set, ordinal: ordinal, domainType: "qemu", resources: Resources(),
                                nics: [], clone: .linked, template: image, specHash: "h")
            let base = actions.count
            actions.append(Action(id: base + 1, host: host, kind: .createDisk(vm), dependsOn: [1]))
            actions.append(Action(id: base + 2, host: host, kind: .defineVM(vm), dependsOn: [base + 1]))
            actions.append(Action(id: base + 3, host: host, kind: .startVM(vm.name), dependsOn: [base + 2]))
        }
        return Plan(actions: actions)
    }

    @Test("maxParallel holds per host across executors running at once")
    func slotsAreShared() async {
        let fake = FakeHost(name: "node-1", delay: .milliseconds(5))
        let engine = Engine(connector: FakeConnector([fake]))
        let connections = await engine.connect(hosts([fake], maxParallel: 2))
        await withTaskGroup(of: Executor.Outcome.self) { group in
            for set in ["a", "b", "c", "d"] {
                group.addTask { await engine.executor(connections.drivers).run(plan(set: set, count: 4, host: "node-1")) }
            }
            for await outcome in group { #expect(outcome.allSucceeded) }
        }
        let (peak, vms) = fake.state.withLock { ($0.maxRunning, $0.vms.count) }
        #expect(vms == 16)
        #expect(peak == 2, "at most maxParallel actions at once, and the executors did overlap")
    }

    @Test("executors of separate engines overrun the host: the limit above is the shared one's doing")
    func separateEnginesDoNotShare() async {
        let fake = FakeHost(name: "node-1", delay: .milliseconds(5))
        await withTaskGroup(of: Void.self) { group in
            for set in ["a", "b", "c", "d"] {
                group.addTask {
                    let engine = Engine(connector: FakeConnector([fake]))
                    let connections = await engine.connect(hosts([fake], maxParallel: 2))
                    _ = await engine.executor(connections.drivers).run(plan(set: set, count: 4, host: "node-1"))
                }
            }
        }
        #expect(fake.state.withLock { $0.maxRunning } > 2)
    }

    @Test("one upload per host and digest however many plans need it; the others join it")
    func singleFlightCopies() async {
        let fake = FakeHost(name: "node-1", copyDelay: .milliseconds(100))
        let engine = Engine(connector: FakeConnector([fake]))
        let connections = await engine.connect(hosts([fake], maxParallel: 4))
        let joined = Tally()
        await withTaskGroup(of: Executor.Outcome.self) { group in
            for set in ["a", "b", "c", "d"] {
                group.addTask {
                    await engine.executor(connections.drivers).run(plan(set: set, count: 1, host: "node-1")) { event in
                        if case .joined = event { joined.count.withLock { $0 += 1 } }
                    }
                }
            }
            for await outcome in group { #expect(outcome.allSucceeded) }
        }
        let state = fake.state.withLock { $0 }
        #expect(state.uploads[image.digest] == 1)
        #expect(state.deletedWhileUploading == 0)
        #expect(joined.count.withLock { $0 } == 3)
        #expect(state.templates[image.digest]?.complete == true)
    }

    @Test("without single flight the same plans race: a partial copy is deleted under an upload")
    func theRaceSingleFlightPrevents() async {
        let fake = FakeHost(name: "node-1", copyDelay: .milliseconds(100))
        await withTaskGroup(of: Void.self) { group in
            for set in ["a", "b"] {
                group.addTask {
                    let engine = Engine(connector: FakeConnector([fake]))
                    let connections = await engine.connect(hosts([fake], maxParallel: 4))
                    _ = await engine.executor(connections.drivers).run(plan(set: set, count: 1, host: "node-1"))
                }
            }
        }
        let state = fake.state.withLock { $0 }
        #expect(state.uploads[image.digest] == 2)
        #expect(state.deletedWhileUploading == 1)
    }
}

/// A count several tasks add to.
final class Tally: Sendable {
    let count = Mutex(0)
}
