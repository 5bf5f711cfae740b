import DroveAPI
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Synchronization
import Testing

@Suite struct ConsoleLogTests {
    @Test("GET /vms/{name}/log answers the log from the offset as text, with the next offset in Drove-Log-Offset")
    func logFromAnOffset() async throws {
        let controller = FakeController()
        controller.consoleLogs.withLock { $0["web-0"] = Array("booting\ndrove-guest: ready\n".utf8) }
        try await withRouterClient(controller: controller) { _, client in
            let offsetHeader = HTTPFields.Element.Name(APIPaths.logOffsetHeader)!
            let whole = try await client.execute(uri: APIPaths.consoleLog(vm: "web-0"), method: .get)
            #expect(whole.status == .ok)
            #expect(whole.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(text(whole) == "booting\ndrove-guest: ready\n")
            #expect(whole.headers[offsetHeader] == "27")

            let rest = try await client.execute(uri: APIPaths.consoleLog(vm: "web-0") + "?offset=8", method: .get)
            #expect(text(rest) == "drove-guest: ready\n")
            #expect(rest.headers[offsetHeader] == "27")

            let idle = try await client.execute(uri: APIPaths.consoleLog(vm: "web-0") + "?offset=27", method: .get)
            #expect(idle.status == .ok)
            #expect(text(idle).isEmpty)
            #expect(idle.headers[offsetHeader] == "27")
        }
    }

    @Test("an unknown VM is 404, a host that cannot give the log 502, a bad offset 400, each saying so")
    func failures() async throws {
        let controller = FakeController()
        controller.unreadableLogs.withLock { _ = $0.insert("web-1") }
        try await withRouterClient(controller: controller) { _, client in
            let unknown = try await client.execute(uri: APIPaths.consoleLog(vm: "web-9"), method: .get)
            #expect(unknown.status == .notFound)
            #expect(try decode(APIErrorBody.self, unknown).error.hasPrefix("vm web-9 not found"))

            let unreadable = try await client.execute(uri: APIPaths.consoleLog(vm: "web-1"), method: .get)
            #expect(unreadable.status == .badGateway)
            #expect(try decode(APIErrorBody.self, unreadable).error.hasPrefix("the console log of vm web-1 cannot be read"))

            let bad = try await client.execute(uri: APIPaths.consoleLog(vm: "web-1") + "?offset=-1", method: .get)
            #expect(bad.status == .badRequest)
        }
    }

    @Test("a VM summary without addresses (an older server's) decodes with none")
    func summaryWithoutAddresses() throws {
        let json = #"{"name": "web-0", "vmSet": "web", "ordinal": 0, "host": "node-a", "phase": "Running", "ready": true}"#
        let vm = try APIJSON.decoder().decode(VMSummary.self, from: Data(json.utf8))
        #expect(vm.addresses == [])
        var withAddress = vm
        withAddress.addresses = ["192.168.122.23"]
        let roundTrip = try APIJSON.decoder().decode(VMSummary.self, from: APIJSON.encoder().encode(withAddress))
        #expect(roundTrip == withAddress)
    }
}
