import DroveAPI
import DroveClient
import Testing

@Suite struct ConsoleLogClientTests {
    @Test("--tail keeps the last N lines, a last line without its newline counting as one")
    func lastLines() {
        let log = Array("one\ntwo\nthree\n".utf8)
        #expect(LogTail.lastLines(log, 1) == Array("three\n".utf8))
        #expect(LogTail.lastLines(log, 2) == Array("two\nthree\n".utf8))
        #expect(LogTail.lastLines(log, 9) == log)
        #expect(LogTail.lastLines(log, 0) == [])
        #expect(LogTail.lastLines(Array("one\npartial".utf8), 1) == Array("partial".utf8))
        #expect(LogTail.lastLines([], 3) == [])
    }

    @Test("the log of a VM the controller does not know is the API's 404, naming the VM")
    func unknownVM() async throws {
        try await withServer { client, _ in
            let error = try await #require(throws: ClientError.self) { try await client.consoleLog(vm: "web-0", from: 0) }
            #expect(error.status == 404)
            #expect(error.description.contains("vm web-0 not found"))
        }
    }
}
