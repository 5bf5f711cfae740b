import Foundation
import Testing

/// `drove logs`, `console` and `ssh` name the VM when the API does not know it, and refuse bad
/// arguments before talking to anyone.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ReachCommandTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-reach-\(UUID().uuidString.prefix(6))")

    @Test("each verb answers an unknown VM with exit 1 and a message naming it")
    func unknownVM() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try await withServe(dataDirectory: scratch.appendingPathComponent("data")) { port in
            let server = ["--server", "http://127.0.0.1:\(port)"]
            for verb in [["logs", "web-0"] + server, ["console", "web-0"] + server, ["ssh", "web-0", "-l", "alpine"] + server + ["--", "uptime"]] {
                let (status, output) = try runDrove(verb, in: scratch)
                #expect(status == 1, "drove \(verb[0]): exit \(status)\n\(output)")
                #expect(output.contains("vm web-0 not found"), "drove \(verb[0]): \(output)")
            }
        }
    }

    @Test("bad arguments are usage errors; console's help names the detach key")
    func arguments() throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        #expect(try runDrove(["logs", "web-0", "--tail", "-1"], in: scratch).status == 64)
        #expect(try runDrove(["logs"], in: scratch).status == 64)
        #expect(try runDrove(["ssh"], in: scratch).status == 64)
        let help = try runDrove(["console", "--help"], in: scratch)
        #expect(help.output.contains("Ctrl-]"), "\(help.output)")
    }
}
