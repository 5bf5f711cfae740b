import DroveTestSupport
import Foundation
import Libvirt
import Testing

/// `drove serve` and the CLI as a user runs them, on the lab: an unauthenticated apply is
/// refused, an authenticated one reaches Ready, `get` shows it, `delete` removes it, and
/// SIGTERM stops the server cleanly.
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(5)))
struct ServeEndToEndTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-serve-\(UUID().uuidString.prefix(6))")
    let port = LoopbackPort.random()
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

    /// Starts `drove serve` on this test's port and data directory, and waits until it answers.
    func startServer() async throws -> Process {
        let server = Process()
        server.executableURL = drove
        server.arguments = ["serve", "--data-dir", scratch.appendingPathComponent("state").path, "--port", String(port),
                            "--token-file", scratch.appendingPathComponent("token").path, "--resync", "10s",
                            "--template-dir", LabHost.repository.appendingPathComponent("manifests/images").path]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        for _ in 0..<100 {
            if try run(["get", "hosts"]).status == 0 { return server }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.terminate()
        throw CancellationError()
    }

    func fleetYAML(set: String, memory: String) throws -> URL {
        let template = try #require(LabHost.tinyTemplate, "the tiny template is missing")
        let hosts = try #require(LabHost.hostsYAML(count: 3), "CI needs 3 lab hosts")
        let manifest = scratch.appendingPathComponent("\(set)-\(memory).yaml")
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
            spec: { replicas: 4, template: tiny, resources: { memory: \(memory) }, updateStrategy: { maxUnavailable: 1 } }
            """).write(to: manifest, atomically: true, encoding: .utf8)
        return manifest
    }

    /// `kill -9` of the controller in the middle of a rollout: restarted on the same data
    /// directory, it finishes the rollout with no VM twice and no disk left over.
    @Test func aControllerKilledMidRolloutConvergesAfterRestart() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try "kill-\(UUID().uuidString)\n".write(to: scratch.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        let set = "k9\(UUID().uuidString.prefix(4).lowercased())"

        var server = try await startServer()
        // A watch started first sees the set's transitions.
        let watch = Process()
        watch.executableURL = drove
        watch.arguments = ["get", "vmsets", "--watch"]
        watch.environment = ProcessInfo.processInfo.environment.merging(["DROVE_SERVER": "http://127.0.0.1:\(port)"]) { $1 }
        let watched = Pipe(), said = Pipe()
        watch.standardOutput = watched
        watch.standardError = said
        try watch.run()
        // It has listed (and says there is nothing yet) before the apply: on a loaded machine
        // it once began only after the set was Ready, and saw one row.
        let listed = said.fileHandleForReading.availableData
        #expect(String(decoding: listed, as: UTF8.self).contains("No vmsets found"))

        #expect(try run(["apply", "-f", try fleetYAML(set: set, memory: "96Mi").path]).status == 0)
        #expect(try run(["wait", "vmset/\(set)", "--for", "condition=Ready", "--timeout", "3m"]).status == 0)
        watch.terminate()
        let seen = String(decoding: watched.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let rows = seen.split(separator: "\n").filter { $0.hasPrefix(set) }
        #expect(rows.count >= 2, "the watch saw: \(seen)")
        #expect(rows.contains { $0.contains("Ready") })

        // Roll out a change and kill -9 the controller once the first VM was replaced.
        #expect(try run(["apply", "-f", try fleetYAML(set: set, memory: "112Mi").path]).status == 0)
        var replacing = false
        for _ in 0..<200 where !replacing {
            replacing = try run(["get", "events", set]).output.contains("Removed")
            if !replacing { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(replacing)
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()

        server = try await startServer()
        defer { if server.isRunning { server.terminate() } }
        let waited = try run(["wait", "vmset/\(set)", "--for", "condition=Ready", "--timeout", "3m"])
        #expect(waited.status == 0, "\(waited.output)")
        let described = try run(["get", "vmsets", set, "-o", "json"])
        #expect(described.output.contains("\"observedGeneration\" : 2") || described.output.contains("\"observedGeneration\":2"),
                "\(described.output)")
        var names: [String] = []
        for index in 1...3 {
            let connection = try await Connection.open(try #require(LabHost.uri(index)))
            names += try await connection.listAllDomains().map(\.name).filter { $0.hasPrefix("\(set)-") }
            let pool = try #require(try await connection.storagePool(named: "default"))
            let volumes = try await pool.listAllVolumes().map(\.name).filter { $0.contains("-\(set)-") }
            let disks = volumes.filter { $0.hasSuffix(".qcow2") }
            let domains = try await connection.listAllDomains().map(\.name).filter { $0.hasPrefix("\(set)-") }
            #expect(disks.count == domains.count, "node-\(index): disks \(disks) for domains \(domains)")
            #expect(volumes.filter { $0.hasSuffix(".console.log") }.count == domains.count, "node-\(index): \(volumes)")
            await connection.close()
        }
        #expect(names.sorted() == (0..<4).map { "\(set)-\($0)" })

        #expect(try run(["delete", "vmset", set]).status == 0)
        var gone = false
        for _ in 0..<240 where !gone {
            gone = !(try run(["get", "vms"]).output.contains("\(set)-"))
            if !gone { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(gone)
        server.terminate()
        server.waitUntilExit()
    }

    @Test func applyWaitGetDeleteThroughTheAPI() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try "e2e-\(UUID().uuidString)\n".write(to: scratch.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        let set = "e2e\(UUID().uuidString.prefix(4).lowercased())"
        let manifest = try fleetYAML(set: set, memory: "96Mi")
        let server = try await startServer()
        defer { if server.isRunning { server.terminate() } }

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
        #expect((0..<4).allSatisfy { vms.output.contains("\(set)-\($0)") })
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
