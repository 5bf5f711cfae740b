import DroveAPI
import DroveClient
import Foundation

/// A `drove` child process the fault suite can kill at any moment: its output goes to a log
/// file, and it is spawned from a fresh thread with no signals blocked (Swift's pool threads
/// block most), so it behaves as it would from a shell.
final class DroveChild: @unchecked Sendable {
    // @unchecked: `process` is set up before it starts; afterwards only Foundation's single
    // termination callback and `kill` (a syscall on its pid) touch it.
    private let process = Process()
    private let exited = AsyncStream<Int32>.makeStream()
    let log: URL

    init(binary: String, arguments: [String], log: URL, environment: [String: String]? = nil) throws {
        self.log = log
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        if let environment { process.environment = environment }
        let continuation = exited.continuation
        process.terminationHandler = { process in
            continuation.yield(process.terminationStatus)
            continuation.finish()
            try? handle.close()
        }
        let started = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: (any Error)?
        let thread = Thread { [process] in
            var nothing = sigset_t()
            sigemptyset(&nothing)
            pthread_sigmask(SIG_SETMASK, &nothing, nil)
            do { try process.run() } catch { failure = error }
            started.signal()
        }
        thread.start()
        started.wait()
        if let failure { throw failure }
    }

    var pid: Int32 { process.processIdentifier }

    /// SIGKILL: no clean-up of any kind, as when a machine loses power under the process.
    func killHard() async -> Int32 {
        kill(pid, SIGKILL)
        return await status()
    }

    /// SIGTERM, the graceful stop.
    func stop() async -> Int32 {
        kill(pid, SIGTERM)
        return await status()
    }

    /// Waits for the process to end: its exit status (or signal number).
    func status() async -> Int32 {
        for await code in exited.stream { return code }
        return process.terminationStatus
    }

    var isRunning: Bool { process.isRunning }

    /// The log's last lines, for a failure's message.
    func tail(_ lines: Int = 15) -> String {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// `drove serve` on a loopback port with a data directory of its own, as the fault suite runs
/// it: started, killed with SIGKILL, started again on the same directory.
final class ServeProcess: @unchecked Sendable {
    // @unchecked: `child` changes only in `start`/`kill`, called from one task at a time.
    let drove: String
    let directory: URL
    let templateDirectory: URL
    let port: Int
    let token: String
    /// More arguments of `drove serve` (a replica's --store and --replica-id).
    let extraArguments: [String]
    private(set) var child: DroveChild?
    private(set) var starts = 0

    init(drove: String, directory: URL, templateDirectory: URL, extraArguments: [String] = [], port: Int? = nil) throws {
        self.drove = drove
        self.directory = directory
        self.templateDirectory = templateDirectory
        self.extraArguments = extraArguments
        // Below Linux's ephemeral range (32768–60999), where an outgoing connection's own port
        // could be taken already.
        self.port = port ?? Int.random(in: 10_000..<32_000)
        token = UUID().uuidString
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try "\(token)\n".write(to: tokenFile, atomically: true, encoding: .utf8)
    }

    var tokenFile: URL { directory.appendingPathComponent("token") }
    var client: APIClient { APIClient(server: URL(string: "http://127.0.0.1:\(port)")!, token: token) }

    /// Starts it and waits until its API answers (at most 60 s).
    func start() async throws {
        starts += 1
        let child = try DroveChild(binary: drove, arguments: [
            "serve", "--data-dir", directory.appendingPathComponent("state").path, "--port", String(port),
            "--token-file", tokenFile.path, "--resync", "10s", "--template-dir", templateDirectory.path,
        ] + extraArguments, log: directory.appendingPathComponent("serve.log"))
        self.child = child
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if (try? await client.objects(.host)) != nil { return }
            guard child.isRunning else { throw BenchError("drove serve exited at start:\n\(child.tail())") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("drove serve did not answer within 60 s:\n\(child.tail())")
    }

    func killHard() async {
        if let child { _ = await child.killHard() }
        child = nil
    }

    /// SIGTERM; throws unless it exits 0.
    func stop() async throws {
        guard let child else { return }
        self.child = nil
        let code = await child.stop()
        if code != 0 { throw BenchError("drove serve exited \(code) on SIGTERM:\n\(child.tail())") }
    }
}
