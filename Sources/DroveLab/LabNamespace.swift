import Foundation

/// Starts a host's daemons in a mount namespace of their own.
enum LabNamespace {
    /// Foundation's `Process` hands its child one end of a socket and learns of the child's exit
    /// when that socket closes; a daemon that inherited it would keep drove waiting forever.
    /// So the scripts close every descriptor but stdio first (bash: dash cannot name fds > 9).
    static let closeInherited = #"for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done"#

    /// Run by `bash -c` inside `unshare -m --propagation private`; `$1` is the host directory,
    /// `$2`/`$3` the virtlogd/libvirtd binaries. Private propagation keeps every mount here out of
    /// the machine's namespace; the namespace lives as long as a process in it does.
    static let startScript = """
        set -eu
        \(closeInherited)
        host="$1"
        # A private /run: the machine's /run/libvirt stays untouched (and need not exist), and
        # the system's D-Bus and systemd sockets are out of reach of this libvirtd.
        mount -t tmpfs -o mode=0755,size=16m drove-lab-run /run
        # /var/lock is /run/lock: libvirtd locks a console's pty there when one is opened.
        mkdir /run/libvirt /run/lock
        mount --bind "$host/run" /run/libvirt
        mount --bind "$host/lib" /var/lib/libvirt
        mount --bind "$host/etc" /etc/libvirt
        mount --bind "$host/log" /var/log/libvirt
        mount --bind "$host/cache" /var/cache/libvirt
        # virtlogd first: libvirtd hands it every guest's console output.
        "$2" -d -p /run/libvirt/virtlogd.pid
        "$3" -d -p /run/libvirt/libvirtd.pid
        """

    /// Script that restarts only virtlogd, run through `nsenter` in libvirtd's namespace.
    static let virtlogdScript = closeInherited + "\n" + #""$1" -d -p /run/libvirt/virtlogd.pid"#

    /// The `unshare` command line for `host`.
    static func startArguments(host: LabHostLayout, tools: LabTools) -> [String] {
        ["-m", "--propagation", "private", "/bin/bash", "-c", startScript, "drove-lab-\(host.name)",
         host.directory.path, tools.virtlogd, tools.libvirtd]
    }

    /// Starts virtlogd and libvirtd; returns once both have daemonized (libvirtd may still be
    /// initializing its drivers).
    static func start(host: LabHostLayout, tools: LabTools) async throws {
        let status = try await LabSpawn.run(tools.unshare, startArguments(host: host, tools: tools), logFile: host.startLog)
        guard status.code == 0 else {
            throw LabError.startFailed(host: host.name, detail: "the namespace script exited with status \(status.code)",
                                       log: LabLogs.tail(of: host))
        }
    }

    /// Starts virtlogd alone in the namespace of a libvirtd that is still running.
    static func startVirtlogd(host: LabHostLayout, libvirtdPid: Int32, tools: LabTools) async throws {
        let status = try await LabSpawn.run(tools.nsenter, ["-t", "\(libvirtdPid)", "-m", "--", "/bin/bash", "-c",
                                                            virtlogdScript, "drove-lab-\(host.name)", tools.virtlogd],
                                            logFile: host.startLog)
        guard status.code == 0 else {
            throw LabError.startFailed(host: host.name, detail: "restarting virtlogd exited with status \(status.code)",
                                       log: LabLogs.tail(of: host))
        }
    }
}

/// The last lines of a host's logs, for error messages.
enum LabLogs {
    static func tail(of host: LabHostLayout, lines: Int = 20) -> String {
        [host.startLog, host.libvirtdLog, host.virtlogdLog].compactMap { url -> String? in
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
            let last = tail(text, lines: lines)
            return last.isEmpty ? nil : "\(url.path):\n\(last)"
        }.joined(separator: "\n")
    }

    /// The last `lines` non-empty lines of `text`. Pure.
    static func tail(_ text: String, lines: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
    }
}
