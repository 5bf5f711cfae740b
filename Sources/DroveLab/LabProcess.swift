import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The programs a lab runs, and so the only ones it ever signals.
public enum LabProgram: String, Sendable, CaseIterable {
    case libvirtd, virtlogd
    /// Any `qemu-system-<arch>`.
    case qemu = "qemu-system"
    /// libvirtd's DHCP server for the host's `drove-lab` network.
    case dnsmasq
    /// The host's `LabReaper`: some executable run with `LabReaper.subcommand`.
    case reaper = "drove lab reaper"

    /// Whether an executable's base name is this program (never, for the reaper, which is known
    /// by its arguments).
    public func matches(baseName: String) -> Bool {
        switch self {
        case .qemu: return baseName.hasPrefix("qemu-system-")
        case .reaper: return false
        case .libvirtd, .virtlogd, .dnsmasq: return baseName == rawValue
        }
    }
}

/// What `/proc` says about one process, enough to decide whether a pid is really ours.
public struct ProcessSnapshot: Sendable, Equatable {
    public let pid: Int32
    /// The target of `/proc/<pid>/exe` (unreadable for zombies and other users' kernel threads).
    public let executable: String?
    /// `/proc/<pid>/cmdline`, split at NULs.
    public let arguments: [String]
    /// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, …).
    public let state: Character?
    /// The target of `/proc/<pid>/ns/mnt`, e.g. `mnt:[4026532177]`.
    public let mountNamespace: String?

    public init(pid: Int32, executable: String?, arguments: [String], state: Character?, mountNamespace: String?) {
        self.pid = pid
        self.executable = executable
        self.arguments = arguments
        self.state = state
        self.mountNamespace = mountNamespace
    }

    /// A zombie has exited; its parent just has not reaped it. Some init processes (as in
    /// containers and microVMs) never reap daemons that double-forked onto them.
    public var hasExited: Bool { state == "Z" || state == "X" }

    /// Whether the process runs `program`, judged by its executable, or by its argv[0] only when
    /// the executable cannot be read (argv[0] is whatever the process chose to call itself).
    public func runs(_ program: LabProgram) -> Bool {
        if program == .reaper { return arguments.dropFirst().starts(with: LabReaper.subcommand) }
        func matches(_ path: String) -> Bool {
            var base = (path as NSString).lastPathComponent
            // A binary replaced by a package upgrade reads as "/usr/sbin/libvirtd (deleted)".
            if base.hasSuffix(" (deleted)") { base = String(base.dropLast(10)) }
            return program.matches(baseName: base)
        }
        if let executable { return matches(executable) }
        return arguments.first.map(matches) ?? false
    }

    /// Parses the state letter out of `/proc/<pid>/stat`: `pid (comm) S ...`, where comm may
    /// itself hold spaces and parentheses, so the state follows the *last* `)`.
    public static func state(fromStat stat: String) -> Character? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let rest = stat[stat.index(after: close)...].drop(while: { $0 == " " })
        return rest.first
    }
}

/// Why `LabProcesses.verify` will or will not touch a pid.
public enum ProcessVerdict: Sendable, Equatable {
    /// A live process running the expected program inside a lab namespace.
    case ours(ProcessSnapshot)
    /// No such process, or only its zombie.
    case gone
    /// The pid now belongs to something else (reused), or runs in our own mount namespace,
    /// which a lab daemon never does: never signal it.
    case notOurs(String)
}

/// Finding, verifying and stopping the lab's processes. Every signal is preceded by `verify`.
public enum LabProcesses {
    /// Reads a pid file; nil when it is missing or holds no positive number.
    public static func readPidFile(_ url: URL) -> Int32? {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        return parsePid(text)
    }

    public static func parsePid(_ text: String) -> Int32? {
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        return pid
    }

    /// Reads `/proc/<pid>`; nil when there is no such process.
    public static func snapshot(pid: Int32) -> ProcessSnapshot? {
        let proc = "/proc/\(pid)"
        guard let stat = readProcFile("\(proc)/stat") else { return nil }
        let cmdline = readProcFile("\(proc)/cmdline") ?? ""
        let arguments = cmdline.split(separator: "\0", omittingEmptySubsequences: true).map(String.init)
        return ProcessSnapshot(
            pid: pid,
            executable: try? FileManager.default.destinationOfSymbolicLink(atPath: "\(proc)/exe"),
            arguments: arguments,
            state: ProcessSnapshot.state(fromStat: stat),
            mountNamespace: try? FileManager.default.destinationOfSymbolicLink(atPath: "\(proc)/ns/mnt"))
    }

    /// The mount namespace this process runs in.
    public static var ownMountNamespace: String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")
    }

    /// Decides whether `snapshot` is a live `program` that a lab started. Pure.
    public static func verdict(_ snapshot: ProcessSnapshot?, program: LabProgram, ownMountNamespace: String?) -> ProcessVerdict {
        guard let snapshot, !snapshot.hasExited else { return .gone }
        guard snapshot.runs(program) else {
            let what = snapshot.executable ?? snapshot.arguments.first ?? "an unknown program"
            return .notOurs("pid \(snapshot.pid) runs \(what), not \(program.rawValue)")
        }
        // Lab daemons and their guests live in a namespace of their own; a `program` in ours is
        // the machine's own (e.g. the system libvirtd) and is left alone.
        if let own = ownMountNamespace, let theirs = snapshot.mountNamespace, own == theirs {
            return .notOurs("pid \(snapshot.pid) (\(program.rawValue)) runs in this machine's own mount namespace")
        }
        return .ours(snapshot)
    }

    public static func verify(pid: Int32, program: LabProgram) -> ProcessVerdict {
        verdict(snapshot(pid: pid), program: program, ownMountNamespace: ownMountNamespace)
    }

    /// Whether the pid is a live, verified `program` of the lab.
    public static func isAlive(pid: Int32?, program: LabProgram) -> Bool {
        guard let pid else { return false }
        if case .ours = verify(pid: pid, program: program) { return true }
        return false
    }

    /// Stops a verified process: SIGTERM, then SIGKILL once `timeout` has passed.
    /// Returns false when the pid was not ours (and so was not signalled) or was already gone.
    @discardableResult
    public static func terminate(pid: Int32, program: LabProgram, timeout: Duration = .seconds(10)) async throws -> Bool {
        guard case .ours = verify(pid: pid, program: program) else { return false }
        kill(pid, SIGTERM)
        if await waitGone(pid: pid, program: program, timeout: timeout) { return true }
        // Verify again: between the two signals the pid could have been reused.
        guard case .ours = verify(pid: pid, program: program) else { return true }
        kill(pid, SIGKILL)
        if await waitGone(pid: pid, program: program, timeout: .seconds(5)) { return true }
        throw LabError.couldNotStop(program: program, pid: pid)
    }

    /// Whether the verified `program` at `pid` is gone (exited, or only its zombie left) within `timeout`.
    static func waitGone(pid: Int32, program: LabProgram, timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if case .ours = verify(pid: pid, program: program) {} else { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// The children of `pid`, zombies included (`/proc/<pid>/task/*/children`).
    static func children(of pid: Int32) -> [ProcessSnapshot] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        let pids = tasks.flatMap { task in
            (readProcFile("/proc/\(pid)/task/\(task)/children") ?? "").split(separator: " ").compactMap { Int32($0) }
        }
        return pids.compactMap(snapshot(pid:))
    }

    /// Reads a `/proc` file whole; `/proc` files report size 0, so read until EOF.
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
