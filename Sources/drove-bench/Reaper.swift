import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Makes this process the reaper of its lab's orphans, as an init such as systemd is on a real
/// libvirt host.
///
/// libvirtd starts QEMU daemonized, so a guest's QEMU is an orphan whose exit is collected by
/// the nearest "child subreaper" above it, else by PID 1. `virDomainDestroy` sends SIGTERM and
/// then polls `kill(pid, 0)` every 200 ms until the process is gone, and a zombie still counts as
/// there. On this project's sandboxes PID 1 (`process_api`) collects zombies only about once a
/// second, so every destroy waited 1-2 s for PID 1 rather than for QEMU (which exits within a few
/// milliseconds). With this process as the subreaper of the lab it starts, zombies are collected
/// at once and the lab behaves like a host with a prompt init.
///
/// Only the lab's own orphans are reaped (QEMU, libvirtd and virtlogd, which daemonize): children
/// this process started itself through Foundation's `Process` are left for Foundation to collect.
enum Reaper {
    /// Becomes a child subreaper and starts the reaping thread. Must run before the lab starts,
    /// so the daemons and their QEMU processes descend from this process.
    static func start() throws {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "prctl") else {
            throw BenchError("cannot find prctl")
        }
        // prctl is variadic in C, which Swift cannot call; its integer arguments pass the same way.
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        let prctl = unsafeBitCast(symbol, to: Prctl.self)
        let setChildSubreaper: Int32 = 36 // PR_SET_CHILD_SUBREAPER
        guard prctl(setChildSubreaper, 1, 0, 0, 0) == 0 else {
            throw BenchError("prctl(PR_SET_CHILD_SUBREAPER): \(String(cString: strerror(errno)))")
        }
        let thread = Thread { loop() }
        thread.name = "drove-bench-reaper"
        thread.start()
    }

    /// Programs whose orphans are ours to collect.
    static let adopted = ["qemu-system", "libvirtd", "virtlogd"]

    private static func loop() {
        while true {
            var info = siginfo_t()
            // Peek at an exited child without collecting it (WNOWAIT), then collect it only if it
            // is one of the lab's orphans.
            let found = waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT)
            let pid = found == 0 ? childPid(info) : 0
            if pid > 0, isAdopted(pid) {
                var status: Int32 = 0
                _ = waitpid(pid, &status, WNOHANG)
                continue
            }
            usleep(pid > 0 ? 2_000 : 5_000)
        }
    }

    /// `si_pid` of a SIGCHLD siginfo: the first field of the union after three ints and padding.
    private static func childPid(_ info: siginfo_t) -> pid_t {
        withUnsafeBytes(of: info) { $0.load(fromByteOffset: 16, as: pid_t.self) }
    }

    private static func isAdopted(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return false }
        let command = stat[stat.index(after: open)..<close]
        return adopted.contains { command.hasPrefix($0) }
    }
}
