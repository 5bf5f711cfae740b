import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Collects a lab host's exited processes at once, as an init such as systemd does on a real
/// libvirt host.
///
/// libvirtd, virtlogd, dnsmasq and every guest's QEMU daemonize, so each is an orphan whose exit
/// is collected by the nearest "child subreaper" above it, else by PID 1. `virDomainDestroy`
/// sends SIGTERM and then polls `kill(pid, 0)` every 200 ms until the process is gone, and a
/// zombie still counts as there. Where PID 1 collects zombies only about once a second (as in
/// this project's sandboxes), every destroy waits 1-2 s for PID 1 rather than for QEMU.
///
/// So each lab host's namespace script runs under a reaper: `unshare` execs it inside the host's
/// new namespaces, it makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`), starts the
/// script, and then only waits: every process of the host descends from it, so it collects each
/// one as it exits. It reports the script's exit status on its standard output, which `up` reads,
/// and exits by itself once it has no process left, that is once `down` stopped the host.
public enum LabReaper {
    /// The arguments after the executable that run the reaper (a hidden `drove lab reaper`).
    public static let subcommand = ["lab", "reaper"]

    /// The line the reaper prints once the script it started has exited. Pure.
    static func report(status: Int32) -> String { "script-exit \(status)\n" }

    /// The script's exit status in what the reaper printed, or nil if it printed none (it could
    /// not become a subreaper or start the script, and said why on its standard error). Pure.
    static func scriptStatus(in output: String) -> Int32? {
        output.split(separator: "\n").lazy.compactMap { line -> Int32? in
            guard line.hasPrefix("script-exit ") else { return nil }
            return Int32(line.dropFirst("script-exit ".count))
        }.first
    }

    /// The exit status a `waitpid` status stands for, as a shell reports it (128 + a signal). Pure.
    static func exitCode(waitStatus status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// How to start a reaper: an executable that runs `LabReaper.run` when given `subcommand`.
    public struct Command: Sendable, Equatable {
        public let executable: String
        public let arguments: [String]

        public init(executable: String, arguments: [String] = LabReaper.subcommand) {
            self.executable = executable
            self.arguments = arguments
        }

        /// The `drove` executable: this process if it is drove, else a `drove` beside it (as
        /// `drove-bench` and the test runner sit beside it in `.build/<configuration>/`).
        public static func beside(executable: String? = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            -> Command? {
            guard let executable else { return nil }
            let url = URL(fileURLWithPath: executable)
            let drove = url.lastPathComponent == "drove" ? url : url.deletingLastPathComponent().appendingPathComponent("drove")
            return FileManager.default.isExecutableFile(atPath: drove.path) ? Command(executable: drove.path) : nil
        }
    }

    // MARK: The reaper process

    /// Runs the reaper in this process (it never returns): becomes a child subreaper, writes its
    /// pid to `pidFile`, starts `command` with its output on this process's standard error,
    /// reports the command's exit status on standard output (then closes it), and collects every
    /// exited descendant until none is left. Exits 0 then, or 1 if it could not start.
    public static func run(pidFile: String, command: [String]) -> Never {
        // Nothing the reaper starts may inherit a descriptor of whoever started the reaper (the
        // socket through which Foundation's `Process` learns of its child's exit, above all).
        markInheritedCloseOnExec()
        // Out of the starter's session, so its terminal's signals are not ours. Foundation's
        // `Process` already made this process a group leader, which setsid refuses (EPERM); a
        // group of its own is enough, since a terminal signals only its foreground group.
        setsid()
        var nothing = sigset_t()
        sigemptyset(&nothing)
        pthread_sigmask(SIG_SETMASK, &nothing, nil)

        guard let executable = command.first else { fail("no command to run") }
        guard becomeSubreaper() else { fail("prctl(PR_SET_CHILD_SUBREAPER): \(String(cString: strerror(errno)))") }
        let pid = getpid()
        do {
            try "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        } catch {
            fail("cannot write \(pidFile): \(error)")
        }
        let script: pid_t
        switch spawn(executable, command) {
        case .success(let child): script = child
        case .failure(let message): fail(message)
        }

        var reported = false
        while true {
            var status: Int32 = 0
            let exited = waitpid(-1, &status, 0)
            if exited < 0 {
                if errno == EINTR { continue }
                break // ECHILD: nothing of this host is left.
            }
            if exited == script, !reported {
                reported = true
                say(report(status: exitCode(waitStatus: status)), to: STDOUT_FILENO)
                // Close the pipe `up` reads, so it sees the end of the report.
                let null = open("/dev/null", O_WRONLY)
                if null >= 0 { dup2(null, STDOUT_FILENO); close(null) }
            }
        }
        if LabProcesses.readPidFile(URL(fileURLWithPath: pidFile)) == pid { unlink(pidFile) }
        exit(0)
    }

    private static func fail(_ message: String) -> Never {
        say("drove lab reaper: \(message)\n", to: STDERR_FILENO)
        exit(1)
    }

    private static func say(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }

    private static func markInheritedCloseOnExec() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in names.compactMap(Int32.init) where descriptor > 2 {
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    private static func becomeSubreaper() -> Bool {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "prctl") else { return false }
        // prctl is variadic in C, which Swift cannot call; its integer arguments pass the same way.
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        let prctl = unsafeBitCast(symbol, to: Prctl.self)
        let setChildSubreaper: Int32 = 36 // PR_SET_CHILD_SUBREAPER
        return prctl(setChildSubreaper, 1, 0, 0, 0) == 0
    }

    private enum Spawned {
        case success(pid_t)
        case failure(String)
    }

    /// Starts `arguments` with standard output sent where standard error goes, no signal blocked
    /// and every signal at its default action (the reaper's own thread may block some).
    private static func spawn(_ executable: String, _ arguments: [String]) -> Spawned {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var nothing = sigset_t()
        sigemptyset(&nothing)
        posix_spawnattr_setsigmask(&attributes, &nothing)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { return .failure("cannot start \(executable): \(String(cString: strerror(result)))") }
        return .success(pid)
    }
}
