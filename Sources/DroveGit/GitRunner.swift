import DroveManifest
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs the git command line as a child process: Foundation's `Process`, never a shell, with a
/// fixed environment and configuration, so neither the machine's git configuration nor a
/// repository's can make it run anything:
///
/// - the environment is built from nothing: `PATH`, a private empty `HOME`, no system or global
///   configuration (`GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_GLOBAL=/dev/null`), no prompts
///   (`GIT_TERMINAL_PROMPT=0`), and credentials only as configuration entries in the
///   environment (`GIT_CONFIG_COUNT`), never in the arguments, which any user can read;
/// - `protocol.allow=never` and only the one transport the call needs allowed (none for calls
///   that read the local repository), so `ext::`, `fd::` or a redirect elsewhere cannot be used
///   whatever the URL says;
/// - hooks (`core.hooksPath=/dev/null`), fsmonitor, submodule recursion, automatic gc and
///   redirects off; received objects checked (`transfer.fsckObjects`).
///
/// Every call has a time limit: past it git is sent SIGTERM, then SIGKILL.
public struct GitRunner: Sendable {
    /// The git binary.
    public var executable: String
    /// An empty directory of Drove's own, git's `HOME`.
    public var home: String
    /// The limit for calls that talk to a remote.
    public var remoteTimeout: Duration
    /// The limit for calls that read the local repository.
    public var localTimeout: Duration

    public init(executable: String = "/usr/bin/git", home: String, remoteTimeout: Duration = .seconds(120),
                localTimeout: Duration = .seconds(60)) {
        self.executable = executable
        self.home = home
        self.remoteTimeout = remoteTimeout
        self.localTimeout = localTimeout
    }

    /// The `-c` options every call gets, before its subcommand.
    static func configuration(allowing transport: GitURL.Transport?) -> [String] {
        var settings = [
            "protocol.allow=never",
            "core.hooksPath=/dev/null",
            "core.fsmonitor=false",
            "submodule.recurse=false",
            "fetch.recurseSubmodules=false",
            "transfer.fsckObjects=true",
            "gc.auto=0",
            "maintenance.auto=false",
            "http.followRedirects=false",
            "credential.helper=",
            "protocol.version=2",
        ]
        if let transport { settings.append("protocol.\(transport.rawValue).allow=always") }
        return settings.flatMap { ["-c", $0] }
    }

    /// The environment every call gets, plus `extra` (credentials as configuration entries).
    func environment(_ extra: [String: String]) -> [String: String] {
        [
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_TERMINAL_PROMPT": "0",
        ].merging(extra) { _, new in new }
    }

    /// Runs `git <configuration> arguments` in `directory` and returns its standard output.
    ///
    /// - Parameters:
    ///   - transport: the one transport the call may use (nil: none, a local call).
    ///   - credentials: configuration entries that carry a secret, passed in the environment.
    ///   - input: written to a private file that becomes git's standard input.
    ///   - outputLimit: more standard output than this fails the call.
    /// - Throws: `GitError` naming `operation`, with git's standard error.
    public func run(
        _ arguments: [String], in directory: String?, operation: String, transport: GitURL.Transport? = nil,
        credentials: GitCredentialEnvironment? = nil, input: Data? = nil, outputLimit: Int = 1 << 20
    ) async throws(GitError) -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Self.configuration(allowing: transport) + arguments
        process.environment = environment(credentials?.variables ?? [:])
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory, isDirectory: true) }

        // Standard input from a file, never a pipe: git may exit before reading it all, and a
        // write to a pipe nobody reads would raise SIGPIPE in this process.
        var inputFile: String?
        if let input {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("drove-git-\(UUID().uuidString)").path
            guard FileManager.default.createFile(atPath: path, contents: input, attributes: [.posixPermissions: 0o600]),
                  let handle = FileHandle(forReadingAtPath: path) else {
                throw GitError(.notStarted, operation: operation, message: "cannot write its input to \(path)")
            }
            inputFile = path
            process.standardInput = handle
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        defer { if let inputFile { try? FileManager.default.removeItem(atPath: inputFile) } }

        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let exit = ProcessExit()
        process.terminationHandler = { exit.finish($0.terminationStatus) }
        do {
            try process.run()
        } catch {
            throw GitError(.notStarted, operation: operation, message: "\(executable): \(error.localizedDescription)")
        }
        // Our copies of the write ends, so the reads end when git's do.
        try? output.fileHandleForWriting.close()
        try? errors.fileHandleForWriting.close()

        async let stdout = Self.drain(output.fileHandleForReading, limit: outputLimit)
        async let stderr = Self.drain(errors.fileHandleForReading, limit: 64 << 10)
        let limit = transport == nil ? localTimeout : remoteTimeout
        let status = await Self.wait(for: process, exit: exit, timeout: limit)
        let (data, overflow) = await stdout
        let message = Self.tail(await stderr.data)

        guard let status else {
            let why = Task.isCancelled ? "stopped: Drove is shutting down" : "stopped after \(limit)"
            throw GitError(.timedOut, operation: operation, message: why + (message.isEmpty ? "" : "; \(message)"))
        }
        guard status == 0 else { throw GitError(.exited(status), operation: operation, message: message) }
        if overflow { throw GitError(.outputTooLarge, operation: operation, message: "more than \(outputLimit) bytes") }
        return data
    }

    /// git's exit status, or nil when it had to be stopped: at the time limit, or when the
    /// calling task is cancelled, its process group (git and whatever it started: ssh, a
    /// remote helper; `Process` makes each child a group leader) gets SIGTERM, and SIGKILL
    /// once git has gone or two seconds later, so nothing of it is left holding its pipes.
    private static func wait(for process: Process, exit: ProcessExit, timeout: Duration) async -> Int32? {
        let group = -process.processIdentifier
        return await withTaskGroup(of: Int32?.self) { tasks -> Int32? in
            tasks.addTask { await exit.status }
            tasks.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            var stopping = false
            while let next = await tasks.next() {
                if let status = next, !stopping {
                    tasks.cancelAll()
                    return status
                }
                if !stopping {
                    stopping = true
                    kill(group, SIGTERM)
                    tasks.addTask {
                        try? await Task.sleep(for: .seconds(2))
                        return nil
                    }
                    continue
                }
                kill(group, SIGKILL)
                tasks.cancelAll()
            }
            return nil
        }
    }

    /// Reads a pipe to its end on a thread of its own (a blocking read never holds a thread of
    /// Swift's cooperative pool); past `limit` it reads on but keeps nothing more.
    private static func drain(_ handle: FileHandle, limit: Int) async -> (data: Data, overflow: Bool) {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var data = Data()
                var overflow = false
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    if data.count + chunk.count > limit { overflow = true } else { data.append(chunk) }
                }
                try? handle.close()
                continuation.resume(returning: (data, overflow))
            }
        }
    }

    /// The last lines of git's standard error, at most 1000 characters.
    private static func tail(_ data: Data) -> String {
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let lines = text.split(separator: "\n").suffix(5).joined(separator: "; ")
        return lines.count > 1000 ? "…" + lines.suffix(1000) : lines
    }
}

/// The exit of one child process, awaited once.
final class ProcessExit: Sendable {
    private struct State {
        var status: Int32?
        var waiter: CheckedContinuation<Int32, Never>?
    }

    private let state = Mutex(State())

    func finish(_ status: Int32) {
        let waiter = state.withLock { state -> CheckedContinuation<Int32, Never>? in
            state.status = status
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: status)
    }

    var status: Int32 {
        get async {
            await withCheckedContinuation { continuation in
                let status = state.withLock { state -> Int32? in
                    if state.status == nil { state.waiter = continuation }
                    return state.status
                }
                if let status { continuation.resume(returning: status) }
            }
        }
    }
}
