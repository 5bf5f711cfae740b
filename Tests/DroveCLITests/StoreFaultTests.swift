import DroveTestSupport
import Foundation
import GRDB
import Testing

/// `drove serve` when its store cannot be written: locked by another process, or on a full disk.
/// It says so (503, naming the file and the cause), writes nothing of the refused request, and
/// loses no write it acknowledged, across a restart.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct StoreFaultTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-storefault-\(UUID().uuidString.prefix(6))")

    func hostYAML(_ name: String) -> String {
        """
        apiVersion: drove/v1
        kind: Host
        metadata: { name: \(name) }
        spec: { uri: "qemu+unix:///system?socket=/nonexistent/\(name)/libvirt-sock" }
        """
    }

    /// Writes `documents` to a file and runs `drove apply -f` on it against the server on `port`.
    func apply(_ documents: [String], port: Int, name: String) throws -> (status: Int32, output: String) {
        let file = scratch.appendingPathComponent("\(name).yaml")
        try documents.joined(separator: "\n---\n").write(to: file, atomically: true, encoding: .utf8)
        return try runDrove(["apply", "-f", file.path], in: scratch, environment: environment(port))
    }

    func environment(_ port: Int) -> [String: String] {
        ["DROVE_SERVER": "http://127.0.0.1:\(port)", "DROVE_TOKEN_FILE": scratch.appendingPathComponent("token").path]
    }

    func hosts(port: Int) throws -> String {
        try runDrove(["get", "hosts"], in: scratch, environment: environment(port)).output
    }

    @Test func aStoreLockedByAnotherProcessRefusesWritesAndLosesNoneItAcknowledged() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try "lock-\(UUID().uuidString)\n".write(to: scratch.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        let data = scratch.appendingPathComponent("state")
        let serve = ["--token-file", scratch.appendingPathComponent("token").path]

        try await withServe(dataDirectory: data, serve) { port in
            #expect(try apply([hostYAML("before")], port: port, name: "before").status == 0)

            // Another process's exclusive transaction: SQLite's write lock, held past drove's wait.
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true // the lock is held across accesses, on purpose
            configuration.busyMode = .timeout(10) // drove serve may be writing at that moment
            let other = try DatabaseQueue(path: data.appendingPathComponent("drove.sqlite").path, configuration: configuration)
            try await other.writeWithoutTransaction { try $0.execute(sql: "BEGIN EXCLUSIVE TRANSACTION") }
            let refused = try apply([hostYAML("during")], port: port, name: "during")
            try await other.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }
            try other.close()
            #expect(refused.status != 0)
            #expect(refused.output.contains("another process holds the store's lock") && refused.output.contains("drove.sqlite"), "\(refused.output)")

            #expect(try apply([hostYAML("after")], port: port, name: "after").status == 0)
        }
        try await withServe(dataDirectory: data, serve) { port in
            let listed = try hosts(port: port)
            #expect(listed.contains("before") && listed.contains("after"), "\(listed)")
            #expect(!listed.contains("during"), "\(listed)")
        }
    }

    @Test func aFullDiskRefusesWritesAndLosesNoneItAcknowledged() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try "full-\(UUID().uuidString)\n".write(to: scratch.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        // A filesystem of its own, small enough to fill.
        let disk = scratch.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        #expect(try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "drove-storefault", disk.path]) == 0, "mounting a tmpfs needs root")
        defer { _ = try? runProgram("/bin/umount", ["-l", disk.path]) }
        let data = disk.appendingPathComponent("state")
        let serve = ["--token-file", scratch.appendingPathComponent("token").path]
        let filler = disk.appendingPathComponent("filler")

        try await withServe(dataDirectory: data, serve) { port in
            #expect(try apply([hostYAML("before")], port: port, name: "before").status == 0)
            try fill(filler)
            // Big enough to need pages the store's files do not have: 12 hosts of 60 KiB labels
            // would be refused as labels; 12 sets with 60 KiB of user data each are not.
            let userData = String(repeating: "#", count: 60 << 10)
            let sets = (0..<12).map { index in
                """
                apiVersion: drove/v1
                kind: VMSet
                metadata: { name: big\(index) }
                spec: { replicas: 0, template: t, cloudInit: { userData: "\(userData)" } }
                """
            }
            let template = """
                apiVersion: drove/v1
                kind: Template
                metadata: { name: t }
                spec: { source: { blob: "sha256:\(String(repeating: "a", count: 64))" } }
                """
            let refused = try apply([template] + sets, port: port, name: "big")
            #expect(refused.status != 0)
            #expect(refused.output.contains("the disk holding the store is full"), "\(refused.output.prefix(2000))")

            try FileManager.default.removeItem(at: filler)
            #expect(try apply([hostYAML("after")], port: port, name: "after").status == 0)
        }
        try await withServe(dataDirectory: data, serve) { port in
            let listed = try hosts(port: port)
            #expect(listed.contains("before") && listed.contains("after"), "\(listed)")
            let sets = try runDrove(["get", "vmsets"], in: scratch, environment: environment(port)).output
            #expect(!sets.contains("big"), "nothing of the refused request: \(sets)")
        }
    }

    /// Writes zeros to `file` until its filesystem is full.
    func fill(_ file: URL) throws {
        FileManager.default.createFile(atPath: file.path, contents: nil)
        let fd = open(file.path, O_WRONLY)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 64 << 10)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    func runProgram(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
