import DroveTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `drove serve` replicas sharing one PostgreSQL store, as operators run them: one leads, the
/// others follow; the lease changes hands when the leader dies or stops. No lab: the one Host
/// points at a socket nobody listens on. (The same with a rollout under way on the lab:
/// `drove-bench faults leader-kill store-cut`, in DroveFaultTests.)
@Suite("drove serve replicas on PostgreSQL")
struct ReplicaTests {
    @Test("one replica leads and the other follows, naming it; SIGKILL hands the lease over within 15 s, SIGTERM at once; drove store copy takes the state out")
    func electionAndFailover() async throws {
        let server = try #require(TestPostgres.url, "no test PostgreSQL server (DROVE_TEST_POSTGRES_URL): scripts/test.sh starts one")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-replicas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let database = "drove_cli_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try psql(server, "CREATE DATABASE \(database)")
        defer { _ = try? psql(server, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
        let store = String(server[..<server.lastIndex(of: "/")!]) + "/" + database

        let a = Replica(id: "a", port: LoopbackPort.random(), store: store, scratch: scratch)
        let b = Replica(id: "b", port: LoopbackPort.random(), store: store, scratch: scratch)
        try await a.start()
        try await waitUntil("a leads", timeout: .seconds(15)) { try await a.health().contains("role: leader") }
        try await b.start()
        defer { a.stop(signal: SIGKILL); b.stop(signal: SIGKILL) }
        try await waitUntil("b follows a", timeout: .seconds(15)) {
            let health = try await b.health()
            return health.contains("role: follower") && health.contains("leader: a")
        }

        // Every replica serves the API from the one store.
        let host = """
            apiVersion: drove/v1
            kind: Host
            metadata: { name: nowhere }
            spec: { uri: "qemu+unix:///system?socket=\(scratch.path)/nowhere/libvirt-sock" }
            """
        let applied = try await b.request("POST", "/api/v1/apply", body: host)
        #expect(applied.status == 200, "\(applied.body)")
        #expect(try await a.request("GET", "/api/v1/hosts/nowhere").status == 200)
        // Only the leader observes hosts; a follower says who does.
        let vms = try await b.request("GET", "/api/v1/vms")
        #expect(vms.status == 503 && vms.body.contains("the leader, a"), "\(vms)")
        #expect(try await a.request("GET", "/api/v1/vms").status == 200)
        let listed = try runDrove(["get", "controllers", "--server", "http://127.0.0.1:\(b.port)"], in: scratch)
        #expect(listed.status == 0)
        #expect(listed.output.contains("a ") && listed.output.contains("leader") && listed.output.contains("follower"), "\(listed.output)")

        // The leader dies: b takes over once the lease runs out (10 s after a's last renewal).
        let killed = ContinuousClock.now
        a.stop(signal: SIGKILL)
        try await waitUntil("b leads", timeout: .seconds(15)) { try await b.health().contains("role: leader") }
        let takeover = ContinuousClock.now - killed
        #expect(takeover < .seconds(15))

        // a comes back and follows; b stops gracefully and gives the lease up at once.
        try await a.start()
        try await waitUntil("a follows b", timeout: .seconds(15)) { try await a.health().contains("leader: b") }
        #expect(try await a.health().contains("role: follower"))
        let stopped = ContinuousClock.now
        b.stop(signal: SIGTERM)
        try await waitUntil("a leads again", timeout: .seconds(15)) { try await a.health().contains("role: leader") }
        #expect(ContinuousClock.now - stopped < .seconds(6), "a released lease is taken within one 2 s retry, not after 10 s")
        let controllers = try await a.request("GET", "/api/v1/controllers")
        #expect(controllers.body.contains("\"leader\":\"a\"") && controllers.body.contains("\"leaseTransitions\":2"), "\(controllers.body)")

        // The state comes out again, into SQLite.
        let copy = try runDrove(["store", "copy", "--from", store, "--to", "sqlite:\(scratch.path)/copy/drove.sqlite"], in: scratch)
        #expect(copy.status == 0, "\(copy.output)")
        #expect(copy.output.contains("1 object"), "\(copy.output)")
        #expect(!copy.output.contains(server.split(separator: ":")[2].split(separator: "@")[0]), "the password never shows")
    }
}

/// One `drove serve` replica of the test.
final class Replica: @unchecked Sendable {
    let id: String
    let port: Int
    let store: String
    let scratch: URL
    private var process: Process?

    init(id: String, port: Int, store: String, scratch: URL) {
        self.id = id
        self.port = port
        self.store = store
        self.scratch = scratch
    }

    func start() async throws {
        let server = Process()
        server.executableURL = droveBinary
        server.arguments = ["serve", "--data-dir", scratch.appendingPathComponent(id).path, "--port", String(port), "--store", store,
                            "--replica-id", id]
        let log = scratch.appendingPathComponent("\(id).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        server.standardOutput = handle
        server.standardError = handle
        try server.run()
        process = server
        try await waitUntil("replica \(id) answers", timeout: .seconds(20)) { (try? await self.health()) != nil }
    }

    func stop(signal: Int32) {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    func health() async throws -> String {
        try await request("GET", "/healthz").body
    }

    func request(_ method: String, _ path: String, body: String? = nil) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if let body {
            request.setValue("application/yaml", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.utf8)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}

/// Runs one SQL statement with psql against `url`.
func psql(_ url: String, _ sql: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
    process.arguments = ["-v", "ON_ERROR_STOP=1", "-qc", sql, url]
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "psql \(sql) failed")
}

func waitUntil(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(200))
    }
    Issue.record("timed out after \(timeout) waiting until \(what)")
    throw CancellationError()
}
