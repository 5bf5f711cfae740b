import ArgumentParser
import DroveAPI
import DroveClient
import DroveController
import DroveStore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Synchronization

/// Figure 5's store and the way its rollout is applied: a SQLite file in the run's scratch
/// directory (as before), or a database of its own on a PostgreSQL server; the sets stored by
/// the probe itself, or POSTed to the API of a `drove serve` follower sharing that database.
/// See docs/scaling.md.

/// Where figure 5's store lives.
enum ControllerStoreChoice: Sendable, Hashable, CustomStringConvertible {
    case sqlite
    /// A PostgreSQL server, named by a URL whose role may create databases: every run makes a
    /// database of its own there (`drove_bench_<random>`) and drops it afterwards.
    case postgres(server: String)

    init?(argument: String) {
        if argument == "sqlite" {
            self = .sqlite
        } else if argument.hasPrefix("postgres://") || argument.hasPrefix("postgresql://"),
                  (try? PostgresLocation(url: argument)) != nil {
            self = .postgres(server: argument)
        } else {
            return nil
        }
    }

    var engine: String {
        switch self {
        case .sqlite: "sqlite"
        case .postgres: "postgres"
        }
    }

    var description: String { engine }
}

extension ControllerStoreChoice: ExpressibleByArgument {}

/// How the rollout's sets reach the store.
enum ControllerApply: String, Sendable, Codable, ExpressibleByArgument, CaseIterable {
    /// `Store.apply` in the probe, as the API's apply route calls it.
    case store
    /// `POST /api/v1/apply` to a `drove serve` follower over the same PostgreSQL database.
    case follower
}

/// Databases made and dropped with `psql` (the benchmark links no PostgreSQL client of its own).
enum ScratchDatabase {
    static let psql = "/usr/bin/psql"

    /// `url` with its database replaced by `name`.
    static func url(_ url: String, database name: String) throws -> String {
        guard var components = URLComponents(string: url) else { throw BenchError("not a URL: \(PostgresRedacted(url))") }
        components.path = "/" + name
        guard let text = components.string else { throw BenchError("cannot name database \(name) in \(PostgresRedacted(url))") }
        return text
    }

    /// Creates a fresh database on `server`'s server, connecting to its `postgres` database
    /// (never to the one `server` names); returns its URL.
    static func create(on server: String) async throws -> (name: String, url: String) {
        let name = "drove_bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        try await run(try url(server, database: "postgres"), "CREATE DATABASE \(name)")
        return (name, try url(server, database: name))
    }

    static func drop(_ name: String, on server: String) async throws {
        try await run(try url(server, database: "postgres"), "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// `pg_database_size` of the database `url` names.
    static func size(_ url: String) async throws -> Int {
        let output = try await run(url, "SELECT pg_database_size(current_database())")
        guard let bytes = Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchError("pg_database_size answered \(output.prefix(200))")
        }
        return bytes
    }

    @discardableResult
    private static func run(_ url: String, _ sql: String) async throws -> String {
        let result = try await Subprocess.run(psql, ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        guard result.code == 0 else { throw BenchError("psql \(sql): exited \(result.code): \(result.output.suffix(1000))") }
        return result.output
    }
}

/// A URL with its password hidden, for messages.
struct PostgresRedacted: CustomStringConvertible {
    let url: String
    init(_ url: String) { self.url = url }
    var description: String {
        guard var components = URLComponents(string: url) else { return "<url>" }
        if components.password != nil { components.password = "***" }
        return components.string ?? "<url>"
    }
}

/// The store's size on disk after the rollout: the SQLite file with its WAL, or the
/// PostgreSQL database's `pg_database_size`.
enum StoreSize {
    static func sqlite(_ path: String) -> Int {
        [path, path + "-wal"].reduce(0) { total, file in
            total + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0)
        }
    }
}

/// The probe's controller run as `drove serve` runs it: under a `LeaderElector` on the store's
/// `controller` lease, started when this process takes the lease. A follower started after it
/// leads finds the lease held and does not lead while this process renews it.
final class ElectedController: Sendable {
    let elector: LeaderElector
    private let state = Mutex<(controller: Controller?, starts: Int)>((nil, 0))
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(store: Store, options: Controller.Options, logger: Logger) {
        // A longer lease than drove serve's 10 s (renewed every 2 s as there, but stopping 10 s
        // before it runs out): at 1,000 hosts on a loaded 2-core machine the default lease was
        // lost mid-rollout (a renewal came back more than 8 s after the last), and the new
        // controller's test-driver hosts start empty again. See docs/scaling.md.
        elector = LeaderElector(store: store, identity: "drove-bench-probe", address: "http://127.0.0.1:0",
                                options: LeaderElector.Options(leaseName: "controller", leaseDuration: .seconds(60),
                                                               renewInterval: .seconds(2), margin: .seconds(10)),
                                logger: logger)
        let started = Task { [self] in
            await elector.run { [self] in
                let controller = Controller(store: store, options: options, logger: logger)
                state.withLock { $0 = (controller, $0.starts + 1) }
                await controller.run()
            }
        }
        task.withLock { $0 = started }
    }

    /// How many times this process took the lease and started a controller (1 unless it lost it).
    var starts: Int { state.withLock { $0.starts } }

    /// The controller, once this process leads.
    func controller(timeout: Duration = .seconds(60)) async throws -> Controller {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let controller = state.withLock({ $0.controller }) { return controller }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("the probe did not take the controller lease within \(timeout)")
    }

    /// Stops leading (the controller stops, the lease is given up).
    func stop() async {
        let running = task.withLock { $0 }
        running?.cancel()
        await running?.value
    }
}

/// A `drove serve` replica over the probe's PostgreSQL database, started after the probe took
/// the lease: it serves the API and follows.
final class FollowerReplica: @unchecked Sendable {
    // @unchecked: `process` is set before any other thread sees this object and only read after.
    let port: Int
    let server: URL
    let log: URL
    private let process: Process

    /// Starts `drove serve --store <url> --replica-id follower` on a free loopback port, with
    /// the test driver and the run's directory (the template's file) allowed, as figure 5's
    /// probe applies.
    init(drove: String, store url: String, directory: URL) throws {
        port = try FollowerReplica.freePort()
        server = URL(string: "http://127.0.0.1:\(port)")!
        let data = directory.appendingPathComponent("follower", isDirectory: true)
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        log = directory.appendingPathComponent("follower.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        process = Process()
        process.executableURL = URL(fileURLWithPath: drove)
        process.arguments = ["serve", "--store", url, "--replica-id", "follower", "--host", "127.0.0.1", "--port", String(port),
                             "--data-dir", data.path, "--allow-test-driver", "--template-dir", directory.path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        // Started from a fresh thread with no signals blocked (Swift's pool threads block most),
        // so SIGTERM reaches its graceful shutdown.
        let failure = LaunchFailure()
        let done = DispatchSemaphore(value: 0)
        let process = self.process
        let thread = Thread {
            var nothing = sigset_t()
            sigemptyset(&nothing)
            pthread_sigmask(SIG_SETMASK, &nothing, nil)
            do { try process.run() } catch { failure.message = "\(error)" }
            done.signal()
        }
        thread.start()
        done.wait()
        if let failure = failure.message { throw BenchError("cannot start \(drove) serve: \(failure)") }
    }

    var pid: Int32 { process.processIdentifier }

    /// `/healthz`'s lines (`role: follower`, `leader: …`) as a dictionary; nil when it does not answer.
    private func health() async -> [String: String]? {
        guard let (data, response) = try? await URLSession.shared.data(from: server.appendingPathComponent("healthz")),
              (response as? HTTPURLResponse)?.statusCode == 200 else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    /// Waits until its `/healthz` answers, and checks it follows (another replica leads).
    func waitUntilFollowing(timeout: Duration = .seconds(60)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw BenchError("drove serve (follower) exited: \(tail())") }
            if let health = await health() {
                if health["role"] == "follower", let leader = health["leader"] { return leader }
                last = "role \(health["role"] ?? "?"), leader \(health["leader"] ?? "none")"
                if health["role"] == "leader" { throw BenchError("the follower leads: \(last)") }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("drove serve (follower) did not follow within \(timeout): \(last); \(tail())")
    }

    /// Its role now, from `/healthz`.
    func role() async -> String {
        await health()?["role"] ?? "unreachable"
    }

    /// POST /api/v1/apply, as `drove apply -f` sends it.
    func apply(_ sources: [APISource]) async throws -> APIApplyResponse {
        do {
            return try await APIClient(server: server).apply(sources)
        } catch {
            throw BenchError("apply through the follower: \(error)")
        }
    }

    /// Its peak resident set (VmHWM), while it runs.
    func peakResidentBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0) * 1024
    }

    /// SIGTERM, then waits for it to exit (SIGKILL after 30 s).
    func stop() async {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    func tail() -> String {
        String(((try? String(contentsOf: log, encoding: .utf8)) ?? "").suffix(2000))
    }

    /// A loopback port nothing listens on now (bound to port 0 and released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw BenchError("bind: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw BenchError("getsockname: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// What launching the follower failed with, written by the launching thread before it signals.
private final class LaunchFailure: @unchecked Sendable {
    var message: String?
}
