import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion with Foundation's `Process`, without blocking a thread.
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
        var environment = ProcessInfo.processInfo.environment
        // libvirtd finds its helpers (dmidecode, qemu-system-*) through PATH.
        environment["PATH"] = LabPrerequisites.searchPath().joined(separator: ":")
        process.environment = environment

        let pipe: Pipe?
        if let logFile {
            if !FileManager.default.fileExists(atPath: logFile.path) {
                _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
            }
            let handle = try FileHandle(forWritingTo: logFile)
            try handle.seekToEnd()
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
}

/// Hands a not-yet-started `Process` to the thread that starts it.
private final class Launch: @unchecked Sendable {
    // @unchecked: only the launching thread touches `process` until it has started, and
    // afterwards only its termination handler (which Foundation calls once) does.
    let process: Process
    init(_ process: Process) { self.process = process }
}
