import Foundation
import Testing

/// `drove users` against a running `drove serve`, as an admin uses it.
@Suite("drove users")
struct UsersCLITests {
    @Test("an admin adds a deployer, whose token alone is printed and works; a viewer's mutation is refused; rotate and remove end tokens")
    func usersLifecycle() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drove-users-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let adminToken = directory.appendingPathComponent("admin.token")
        try "admin-secret-\(UUID().uuidString)\n".write(to: adminToken, atomically: true, encoding: .utf8)

        try await withServe(dataDirectory: directory.appendingPathComponent("state"), ["--token-file", adminToken.path]) { port in
            let server = ["DROVE_SERVER": "http://127.0.0.1:\(port)"]
            let admin = server.merging(["DROVE_TOKEN_FILE": adminToken.path]) { $1 }
            func drove(_ arguments: [String], _ environment: [String: String]) throws -> (status: Int32, output: String) {
                try runDrove(arguments, in: directory, environment: environment)
            }

            // The token is the only line on standard output; the note goes to standard error.
            let added = try drove(["users", "add", "alice", "--role", "deployer"], admin)
            #expect(added.status == 0, "\(added.output)")
            let token = try #require(added.output.split(separator: "\n").first { $0.hasPrefix("alice.") })
            let aliceFile = directory.appendingPathComponent("alice.token")
            try String(token).write(to: aliceFile, atomically: true, encoding: .utf8)
            let alice = server.merging(["DROVE_TOKEN_FILE": aliceFile.path]) { $1 }

            let list = try drove(["users", "list"], admin)
            #expect(list.status == 0 && list.output.contains("alice") && list.output.contains("deployer"), "\(list.output)")
            let json = try drove(["users", "list", "-o", "json"], admin)
            #expect(json.output.contains(#""role" : "deployer""#), "\(json.output)")
            let forbidden = try drove(["users", "list"], alice)
            #expect(forbidden.status == 1 && forbidden.output.contains("only an admin may list users"), "\(forbidden.output)")

            // Alice may not apply a Host (403, named), and her token reads.
            let host = directory.appendingPathComponent("host.yaml")
            try """
                apiVersion: drove/v1
                kind: Host
                metadata: { name: node-a }
                spec: { uri: "qemu+ssh://root@node-a/system" }
                """.write(to: host, atomically: true, encoding: .utf8)
            let apply = try drove(["apply", "-f", host.path], alice)
            #expect(apply.status == 1 && apply.output.contains("only an admin applies Hosts"), "\(apply.output)")
            #expect(try drove(["get", "hosts"], alice).status == 0)

            // Rotation ends the old token at once; so does removal.
            let rotated = try drove(["users", "rotate", "alice"], admin)
            #expect(rotated.status == 0)
            let stale = try drove(["apply", "-f", host.path], alice)
            #expect(stale.status == 1 && stale.output.contains("not valid"), "\(stale.output)")
            #expect(try drove(["users", "remove", "alice"], admin).status == 0)
            #expect(!(try drove(["users", "list"], admin).output.contains("alice")))
        }
    }
}
