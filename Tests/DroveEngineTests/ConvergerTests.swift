import DroveHost
import DroveManifest
import DrovePlan
import DroveTestSupport
import Testing
@testable import DroveEngine

/// The engine end to end over in-memory hosts: converging, limits, failures and retries.
@Suite struct ConvergerTests {
    let image = TemplateImage(name: "tiny", digest: "abc123", format: "qcow2", path: "/images/tiny.qcow2",
                              fileBytes: 1 << 20, virtualBytes: 1 << 30)

    func manifest(hosts: Int, sets: [(String, Int)], maxParallel: Int = 4) -> Manifest {
        Manifest(
            hosts: (1...hosts).map { Host(metadata: ObjectMeta(name: "node-\($0)"),
                                          spec: HostSpec(uri: "fake://\($0)", domainType: .qemu, maxParallel: maxParallel)) },
            templates: [Template(metadata: ObjectMeta(name: "tiny"),
                                 spec: TemplateSpec(source: TemplateSource(path: "tiny.qcow2", resolvedPath: image.path)))],
            vmSets: sets.map { VMSet(metadata: ObjectMeta(name: $0.0), spec: VMSetSpec(replicas: $0.1, template: "tiny")) })
    }

    func converger(_ hosts: [FakeHost], manifest: Manifest, attempts: Int = 3) async -> Converger {
        let engine = Engine(connector: FakeConnector(hosts), limits: ExecutionLimits(global: 16, attempts: attempts, backoff: .milliseconds(1)))
        return Converger(engine: engine, connections: await engine.connect(manifest.hosts))
    }

    @Test func convergesThenASecondRunChangesNothing() async {
        let hosts = (1...3).map { FakeHost(name: "node-\($0)") }
        let manifest = manifest(hosts: 3, sets: [("web", 6), ("db", 3)])
        let engine = await converger(hosts, manifest: manifest)
        let desired = DesiredState(manifest: manifest, images: ["tiny": image])

        let first = await engine.converge(desired, timeout: .seconds(30))
        #expect(first.converged)
        #expect(first.actionsRun == 3 + 9 * 3) // a copy per host; disk, define, start per VM
        let running = hosts.flatMap { $0.state.withLock { Array($0.vms.values) } }.filter { $0.state == .running }
        #expect(running.count == 9)

        let second = await engine.converge(desired, timeout: .seconds(30))
        #expect(second.converged)
        #expect(second.actionsRun == 0)
        #expect(second.passes == 1)
    }

    @Test func aPerHostLimitHoldsWhileHostsRunInParallel() async {
        let hosts = (1...2).map { FakeHost(name: "node-\($0)", delay: .milliseconds(20)) }
        let manifest = manifest(hosts: 2, sets: [("web", 12)], maxParallel: 2)
        let result = await converger(hosts, manifest: manifest).converge(DesiredState(manifest: manifest, images: ["tiny": image]),
                                                                          timeout: .seconds(30))
        #expect(result.converged)
        for host in hosts {
            let peak = host.state.withLock { $0.maxRunning }
            #expect(peak == 2)
        }
    }

    @Test("boot admission holds in drove up's path: at most maxBooting guests of a host boot at once, and all become ready")
    func bootAdmission() async {
        let hosts = (1...2).map { FakeHost(name: "node-\($0)", bootTime: .milliseconds(40)) }
        var manifest = manifest(hosts: 2, sets: [("web", 10)])
        for index in manifest.hosts.indices { manifest.hosts[index].spec.maxBooting = 2 }
        manifest.templates[0].spec.readiness = .agent
        let result = await converger(hosts, manifest: manifest).converge(DesiredState(manifest: manifest, images: ["tiny": image]),
                                                                          timeout: .seconds(30), goal: .ready)
        #expect(result.converged)
        for host in hosts {
            let peak = host.state.withLock { $0.maxBooting }
            #expect(peak == 2, "\(host.name) booted \(peak) at once")
        }
    }

    @Test func transientFailuresAreRetried() async {
        let hosts = [FakeHost(name: "node-1")]
        hosts[0].state.withLock { $0.failures["create-disk"] = (remaining: 2, transient: true) }
        let manifest = manifest(hosts: 1, sets: [("web", 1)])
        let result = await converger(hosts, manifest: manifest).converge(DesiredState(manifest: manifest, images: ["tiny": image]),
                                                                          timeout: .seconds(30))
        #expect(result.converged)
        #expect(result.passes == 2)
    }

    @Test func aFailingHostStopsOnlyItsOwnWork() async {
        let hosts = (1...3).map { FakeHost(name: "node-\($0)") }
        hosts[1].state.withLock { $0.failures["create-disk"] = (remaining: 100, transient: false) }
        let manifest = manifest(hosts: 3, sets: [("web", 6)])
        let result = await converger(hosts, manifest: manifest).converge(DesiredState(manifest: manifest, images: ["tiny": image]),
                                                                          timeout: .seconds(30))
        #expect(!result.converged)
        #expect(result.failures.allSatisfy { $0.host == "node-2" && $0.cause == "injected failure" })
        #expect(!result.failures.isEmpty)
        #expect(hosts[0].state.withLock { $0.vms.count } == 2)
        #expect(hosts[2].state.withLock { $0.vms.count } == 2)
        #expect(hosts[1].state.withLock { $0.vms.count } == 0)
        #expect(result.stopReason?.contains("no action succeeded") == true)
    }

    @Test func downRemovesEverythingDeclaredAndNothingElse() async {
        let hosts = (1...2).map { FakeHost(name: "node-1\($0)") }
        var manifest = manifest(hosts: 2, sets: [("web", 4), ("keep", 2)])
        manifest.hosts = hosts.map { Host(metadata: ObjectMeta(name: $0.name), spec: HostSpec(uri: "fake://", domainType: .qemu)) }
        let engine = await converger(hosts, manifest: manifest)
        #expect(await engine.converge(DesiredState(manifest: manifest, images: ["tiny": image]), timeout: .seconds(30)).converged)

        var down = manifest
        down.vmSets = []
        let result = await engine.converge(DesiredState(manifest: down, images: ["tiny": image], removing: ["web"],
                                                        pruneTemplates: .declared), timeout: .seconds(30))
        #expect(result.converged)
        let left = hosts.flatMap { $0.state.withLock { Array($0.vms.keys) } }.sorted()
        #expect(left == ["keep-0", "keep-1"])
        // The template stays where "keep" uses it.
        let templates = hosts.filter { $0.state.withLock { !$0.templates.isEmpty } }.count
        #expect(templates >= 1)
    }

    @Test("waiting for guests listens to their events instead of reading the hosts again and again")
    func waitsForGuestsOnEvents() async {
        let hosts = (1...2).map { FakeHost(name: "node-\($0)", guestsReport: false) }
        var manifest = manifest(hosts: 2, sets: [("web", 4)])
        manifest.templates[0].spec.readiness = .agent
        let engine = await converger(hosts, manifest: manifest)
        let converging = Task { await engine.converge(DesiredState(manifest: manifest, images: ["tiny": image]), timeout: .seconds(30), goal: .ready) }
        // The guests boot one by one, a while after they were started.
        var reported: Set<String> = []
        while reported.count < 4 {
            try? await Task.sleep(for: .milliseconds(100))
            for host in hosts {
                let running = host.state.withLock { $0.vms.values.filter { $0.state == .running }.map(\.name) }
                for vm in running where reported.insert(vm).inserted {
                    host.outside({ $0.vms[vm]?.agentConnected = true }, event: vm, .agentConnected)
                }
            }
        }
        let result = await converging.value
        #expect(result.converged)
        let observations = hosts.map { $0.state.withLock { $0.observations } }
        #expect(observations.allSatisfy { $0 <= 3 }, "observed \(observations) times while waiting for guests")
    }

    @Test("a guest that never says it is up: not converged at the deadline, saying how many are ready")
    func guestsThatNeverReport() async {
        let hosts = [FakeHost(name: "node-1", guestsReport: false)]
        var manifest = manifest(hosts: 1, sets: [("web", 2)])
        manifest.templates[0].spec.readiness = .agent
        let result = await converger(hosts, manifest: manifest)
            .converge(DesiredState(manifest: manifest, images: ["tiny": image]), timeout: .milliseconds(500), goal: .ready)
        #expect(!result.converged)
        #expect(result.stopReason == "timed out with 0 of 2 guests ready")
    }
}
