import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs programs with Foundation's `Process`, without blocking a thread.
enum LabSpawn {
    struct Status: Sendable {
        let code: Int32
        /// What the program printed, when it was captured rather than sent to a log file.
        let output: String
    }

    /// Runs `executable` with `arguments`. Its output goes to `logFile` (appended) when given:
    /// daemons it starts may inherit the descriptors, and a pipe would then never reach EOF.
    /// Otherwise output is captured, which is only for programs that leave nothing behind.
    static func run(_ executable: String, _ arguments: [String], logFile: URL? = nil) async throws -> Status {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.environment = environment()

        let pipe: Pipe?
        if let logFile {
            let handle = try appending(to: logFile)
            process.standardOutput = handle
            process.standardError = handle
            pipe = nil
        } else {
            let capture = Pipe()
            process.standardOutput = capture
            process.standardError = capture
            pipe = capture
        }

        let launch = Launch(process)
        let code: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in
                continuation.resume(returning: finished.terminationStatus)
            }
            // posix_spawn gives the child the calling thread's signal mask, and Swift's
            // concurrency threads block nearly every signal: daemons started from one of them
            // ignore SIGTERM forever. So spawn from a fresh thread with nothing blocked.
            let thread = Thread {
                var nothing = sigset_t()
                sigemptyset(&nothing)
                pthread_sigmask(SIG_SETMASK, &nothing, nil)
                do {
                    try launch.process.run()
                } catch {
                    launch.process.terminationHandler = nil
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
        let output = pipe.map { String(decoding: $0.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) } ?? ""
        return Status(code: code, output: output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Starts `executable`, which stays running (a lab host's reaper), with its standard error
    /// appended to `logFile`, and returns what it printed on standard output once it closed it.
    /// Its exit is left to Foundation to collect, whenever it comes.
    static func readOutput(_ executable: String, _ arguments: [String], logFile: URL) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.environment = environment()
        let log = try appending(to: logFile)
        process.standardError = log
        let output = Pipe()
        process.standardOutput = output
        // Held until it exits, so that Foundation is there to collect it.
        let held = Launch(process)
        let id = ObjectIdentifier(process)
        reapers.withLock { $0[id] = held }
        process.terminationHandler = { _ in _ = reapers.withLock { $0.removeValue(forKey: id) } }
        do {
            try await launch(process)
        } catch {
            _ = reapers.withLock { $0.removeValue(forKey: id) }
            throw error
        }
        try? log.close()
        let reader = output.fileHandleForReading
        return await withCheckedContinuation { continuation in
            // A blocking read, so on a thread of its own rather than the cooperative pool.
            let thread = Thread {
                continuation.resume(returning: String(decoding: reader.readDataToEndOfFile(), as: UTF8.self))
            }
            thread.start()
        }
    }

    /// The long-lived programs `readOutput` started that have not exited yet.
    private static let reapers = Mutex<[ObjectIdentifier: Launch]>([:])

    /// The environment of every program the lab starts.
    private static func environment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        // libvirtd finds its helpers (dmidecode, qemu-system-*, dnsmasq, iptables) through PATH.
        environment["PATH"] = LabPrerequisites.searchPath().joined(separator: ":")
        return environment
    }

    private static func appending(to logFile: URL) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: logFile.path) {
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: logFile)
        try handle.seekToEnd()
        return handle
    }

    /// Starts `process` from a fresh thread: posix_spawn gives the child the calling thread's
    /// signal mask, and Swift's concurrency threads block nearly every signal, so daemons started
    /// from one of them would ignore SIGTERM forever.
    private static func launch(_ process: Process) async throws {
        let launch = Launch(process)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                var nothing = sigset_t()
                sigemptyset(&nothing)
                pthread_sigmask(SIG_SETMASK, &nothing, nil)
                do {
                    try launch.process.run()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }
}

/// Hands a not-yet-started `Process` to the thread that starts it.
private final class Launch: @unchecked Sendable {
    // @unchecked: only the launching thread touches `process` until it has started, and
    // afterwards only its termination handler (which Foundation calls once) does.
    let process: Process
    init(_ process: Process) { self.process = process }
}
