import DroveAPI
import DroveEngine
import DroveManifest
import DrovePlan
import DroveStore
import DroveTestSupport
import Foundation
import Testing
@testable import DroveController

/// Guests that must boot before they count: boot admission, readiness timeouts, address
/// readiness and host checks, over in-memory hosts.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct GuestReadinessTests {
    typealias Harness = ControllerCoreTests.Harness

    func host(_ name: String, maxBooting: Int = 8, networks: [String] = []) -> String {
        """
        apiVersion: drove/v1
        kind: Host
        metadata: { name: \(name) }
        spec: { uri: "test:///default", domainType: qemu, maxParallel: 8, maxBooting: \(maxBooting), networks: [\(networks.joined(separator: ", "))] }
        """
    }

    func set(_ name: String, replicas: Int, extra: String = "") -> String {
        """
        apiVersion: drove/v1
        kind: VMSet
        metadata: { name: \(name) }
        spec: { replicas: \(replicas), template: tiny, resources: { memory: 64Mi }\(extra) }
        """
    }

    @Test("at most maxBooting guests of a host boot at once, and every one still becomes ready")
    func bootAdmission() async throws {
        let node = FakeHost(name: "node-1", cpus: 64, bootTime: .milliseconds(60))
        let harness = try Harness(hosts: [node])
        await harness.run {
            try await harness.apply([host("node-1", maxBooting: 2), harness.templateYAML(readiness: .agent), set("web", replicas: 10)])
            try await harness.wait("web is Ready") { await harness.isReady("web") }
            let peak = node.state.withLock { $0.maxBooting }
            #expect(peak <= 2, "\(peak) guests booted at once for maxBooting 2")
            #expect(peak == 2, "admission never let two boot together")
            #expect(harness.controller.engine.boots.booting().isEmpty)
        }
    }

    @Test("a guest that never says it is up goes Failed after the timeout, with its console's last lines")
    func readinessTimeout() async throws {
        let node = FakeHost(name: "node-1", guestsReport: false)
        let harness = try Harness(hosts: [node])
        await harness.run {
            try await harness.apply([host("node-1"), harness.templateYAML(readiness: .agent), set("web", replicas: 1, extra: ", readinessTimeout: 10s")])
            try await harness.wait("web-0 runs") { harness.allVMs().first?.state == .running }
            node.appendConsoleLog(vm: "web-0", "Booting...\r\n\u{1b}[0mKernel panic - not syncing: VFS: Unable to mount root fs\r\n")
            try await harness.wait("web-0 is Failed", timeout: .seconds(30)) {
                await harness.controller.vms().first?.phase == .failed
            }
            let vm = try #require(await harness.controller.vms().first)
            #expect(vm.message?.contains("not ready 10s after it started (readiness: agent)") == true, "\(vm.message ?? "")")
            #expect(vm.message?.contains("Kernel panic - not syncing: VFS: Unable to mount root fs") == true)
            let events = try await harness.store.events(after: 0, limit: 1000).filter { $0.reason == EventReason.readinessTimedOut.rawValue }
            #expect(events.count == 1 && events.first?.host == "node-1")
        }
    }

    @Test("readiness address: ready once the host knows an address, which status and the VM list show")
    func addressReadiness() async throws {
        let node = FakeHost(name: "node-1")
        let harness = try Harness(hosts: [node])
        await harness.run {
            try await harness.apply([host("node-1", networks: ["lab"]), harness.templateYAML(readiness: .running),
                                     set("web", replicas: 2, extra: ", readiness: address, networks: [{ type: network, source: lab }]")])
            try await harness.wait("web is Ready") { await harness.isReady("web") }
            let vms = await harness.controller.vms()
            #expect(vms.map(\.addresses) == [["10.0.0.2"], ["10.0.0.3"]])
            #expect(await harness.status("web")?.details.readiness == "address")
        }
    }

    @Test("console lines for a message: the last ones, without escape sequences or control characters")
    func consoleText() {
        let log = Array("one\r\ntwo\r\n\u{1b}[0mthree\u{07}\r\n\r\nt-1:/# \u{1b}[6n\u{1b}(Bfour\n".utf8)
        #expect(ConsoleText.lastLines(log, count: 3) == "two\nthree\nt-1:/# four")
        #expect(ConsoleText.lastLines([], count: 3) == "")
    }

    @Test("a host that lacks what it declares is Degraded, naming what is missing")
    func hostCheck() async throws {
        let node = FakeHost(name: "node-1")
        node.state.withLock { $0.problems = ["network lab does not exist"] }
        let harness = try Harness(hosts: [node])
        await harness.run {
            try await harness.apply([host("node-1", networks: ["lab"]), harness.templateYAML()])
            try await harness.wait("node-1 is Degraded") {
                await harness.reason("node-1", .degraded, kind: .host) == ConditionReason.hostCheckFailed.rawValue
            }
            #expect(await harness.status("node-1", kind: .host)?.condition(.degraded)?.message == "network lab does not exist")
            #expect(await harness.reason("node-1", .ready, kind: .host) == ConditionReason.connected.rawValue)
        }
    }
}
