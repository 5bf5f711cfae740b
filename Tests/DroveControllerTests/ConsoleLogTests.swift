import DroveAPI
import DroveHost
import DroveTestSupport
import Testing
@testable import DroveController

extension ControllerCoreTests {
    @Test("a VM's console log is read on the host the view shows it on, from an offset; an unknown VM is nil, a lost host an error naming it")
    func consoleLogThroughTheVMsHost() async throws {
        let hosts = (1...2).map { FakeHost(name: "node-\($0)") }
        let harness = try Harness(hosts: hosts)
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 1)])
            try await harness.wait("web is Ready") { await harness.isReady("web") }
            let host = try #require(hosts.first { $0.state.withLock { $0.vms["web-0"] != nil } })
            host.appendConsoleLog(vm: "web-0", "booting\n")

            let first = try #require(try await harness.controller.consoleLog(vm: "web-0", from: 0))
            #expect(first == APIConsoleLog(bytes: Array("booting\n".utf8), nextOffset: 8))
            host.appendConsoleLog(vm: "web-0", "drove-guest: ready\n")
            let next = try #require(try await harness.controller.consoleLog(vm: "web-0", from: first.nextOffset))
            #expect(String(decoding: next.bytes, as: UTF8.self) == "drove-guest: ready\n")
            #expect(next.nextOffset == 27)
            let idle = try #require(try await harness.controller.consoleLog(vm: "web-0", from: next.nextOffset))
            #expect(idle == APIConsoleLog(bytes: [], nextOffset: 27))

            #expect(try await harness.controller.consoleLog(vm: "nope-0", from: 0) == nil)

            host.kill()
            try await harness.wait("the view has lost \(host.name)") { await harness.controller.vms().first?.phase == .unknown }
            let error = try await #require(throws: HostError.self) { try await harness.controller.consoleLog(vm: "web-0", from: 0) }
            #expect(error.host == host.name)
            #expect(error.transient)
        }
    }
}
