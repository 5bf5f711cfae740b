import DroveTestSupport
import Foundation
import Testing

/// `drove serve` and the CLI as a user runs them, on the lab: an unauthenticated apply is
/// refused, an authenticated one reaches Ready, `get` shows it, `delete` removes it, and
/// SIGTERM stops the server cleanly.
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(5)))
struct ServeEndToEndTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-serve-\(UUID().uuidString.prefix(6))")
    let port = Int.random(in: 20_000..<30_000)
    var drove: URL { LabHost.repository.appendingPathComponent(".build/debug/drove") }

    /// Runs the CLI to completion: exit status and standard output and error together.
    func run(_ arguments: [String], token: Bool = true) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = drove
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DROVE_SERVER"] = "http://127.0.0.1:\(port)"
        environment["DROVE_TOKEN_FILE"] = token ? scratch.appendingPathComponent("token").path : nil
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func applyWaitGetDeleteThroughTheAPI() async throws {
        let template = try #require(LabHost.tinyTemplate, "the tiny template is missing")
        let hosts = try #require(LabHost.hostsYAML(count: 3), "CI needs 3 lab hosts")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try "e2e-\(UUID().uuidString)\n".write(to: scratch.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        let set = "e2e\(UUID().uuidString.prefix(4).lowercased())"
        let manifest = scratch.appendingPathComponent("fleet.yaml")
        try (hosts + """

            ---
            apiVersion: drove/v1
            kind: Template
            metadata: { name: tiny }
            spec: { source: { path: "\(template)" } }
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: \(set) }
            spec: { replicas: 3, template: tiny, resources: { memory: 96Mi } }
            """).write(to: manifest, atomically: true, encoding: .utf8)

        let server = Process()
        server.executableURL = drove
        server.arguments = ["serve", "--data-dir", scratch.appendingPathComponent("state").path, "--port", String(port),
                            "--token-file", scratch.appendingPathComponent("token").path, "--resync", "10s"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { server.terminate() } }
        var up = false
        for _ in 0..<100 where !up {
            up = try run(["get", "hosts"]).status == 0
            if !up { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(up, "drove serve did not answer")

        let refused = try run(["apply", "-f", manifest.path], token: false)
        #expect(refused.status != 0)
        #expect(refused.output.contains("Bearer"))

        let applied = try run(["apply", "-f", manifest.path])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(applied.output.contains("vmset/\(set) created"))
        let waited = try run(["wait", "vmset/\(set)", "--for", "condition=Ready", "--timeout", "3m"])
        #expect(waited.status == 0, "\(waited.output)")

        let listed = try run(["get", "vmsets", set, "-o", "json"])
        #expect(listed.status == 0)
        #expect(listed.output.contains("\"Converged\""))
        let vms = try run(["get", "vms"])
        #expect((0..<3).allSatisfy { vms.output.contains("\(set)-\($0)") })
        let hostsListed = try run(["get", "hosts"])
        #expect(hostsListed.output.contains("node-1"))

        let deleted = try run(["delete", "vmset", set])
        #expect(deleted.status == 0, "\(deleted.output)")
        var gone = false
        for _ in 0..<240 where !gone {
            gone = !(try run(["get", "vms"]).output.contains("\(set)-"))
            if !gone { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(gone)

        server.terminate() // SIGTERM: graceful shutdown
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)
    }
}
