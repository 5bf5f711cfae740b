import Foundation

/// Starts a host's daemons in a mount namespace and a network namespace of their own.
enum LabNamespace {
    /// Foundation's `Process` hands its child one end of a socket and learns of the child's exit
    /// when that socket closes; a daemon that inherited it would keep drove waiting forever.
    /// So the scripts close every descriptor but stdio first (bash: dash cannot name fds > 9).
    static let closeInherited = #"for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done"#

    /// Run by `bash -c` inside `unshare -m -n --propagation private`; `$1` is the host directory,
    /// `$2`/`$3` the virtlogd/libvirtd binaries. Private propagation keeps every mount here out of
    /// the machine's namespace. The network namespace holds only `lo` until libvirtd adds the
    /// `drove-lab` bridge, its guests' taps, its dnsmasq and its firewall rules: nothing a host does
    /// reaches the machine's network. The namespaces live as long as a process in them does.
    static let startScript = """
        set -eu
        \(closeInherited)
        host="$1"
        ip link set lo up
        # A private /run: the machine's /run/libvirt stays untouched (and need not exist), and
        # the system's D-Bus and systemd sockets are out of reach of this libvirtd.
        mount -t tmpfs -o mode=0755,size=16m drove-lab-run /run
        # sysfs as this network namespace sees it: libvirt reads its bridge and taps under
        # /sys/class/net, and would otherwise see (and probe) the machine's interfaces. The
        # machine's cgroup mounts are carried over, so libvirt finds them as before.
        mkdir /run/drove-sys
        mount -t sysfs drove-lab-sys /run/drove-sys
        mount --rbind /sys/fs/cgroup /run/drove-sys/fs/cgroup
        mount --move /run/drove-sys /sys
        rmdir /run/drove-sys 2>/dev/null || true
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

    /// The namespaces a host gets: mount and network.
    static let namespaces = ["-m", "-n", "--propagation", "private"]

    /// The script's command line (after `unshare` and the reaper, if any) for `host`.
    static func scriptArguments(host: LabHostLayout, tools: LabTools) -> [String] {
        ["/bin/bash", "-c", startScript, "drove-lab-\(host.name)", host.directory.path, tools.virtlogd, tools.libvirtd]
    }

    /// The `unshare` command line for `host`: the reaper, which runs the script, or without one
    /// the script itself.
    static func startArguments(host: LabHostLayout, tools: LabTools, reaper: LabReaper.Command?) -> [String] {
        let script = scriptArguments(host: host, tools: tools)
        guard let reaper else { return namespaces + script }
        return namespaces + [reaper.executable] + reaper.arguments
            + ["--pid-file", host.reaperPidFile.path, "--"] + script
    }

    /// Starts virtlogd and libvirtd under `reaper` (see `LabReaper`); returns once both have
    /// daemonized (libvirtd may still be initializing its drivers). Without a reaper the daemons'
    /// exited processes are left to PID 1.
    static func start(host: LabHostLayout, tools: LabTools, reaper: LabReaper.Command?) async throws {
        let arguments = startArguments(host: host, tools: tools, reaper: reaper)
        let code: Int32
        if reaper != nil {
            let output = try await LabSpawn.readOutput(tools.unshare, arguments, logFile: host.startLog)
            guard let status = LabReaper.scriptStatus(in: output) else {
                throw LabError.startFailed(host: host.name, detail: "its reaper did not start the namespace script",
                                           log: LabLogs.tail(of: host))
            }
            code = status
        } else {
            code = try await LabSpawn.run(tools.unshare, arguments, logFile: host.startLog).code
        }
        guard code == 0 else {
            throw LabError.startFailed(host: host.name, detail: "the namespace script exited with status \(code)",
                                       log: LabLogs.tail(of: host))
        }
    }

    /// Starts virtlogd alone in the namespaces of a libvirtd that is still running. It runs under no
    /// reaper (one cannot adopt a process it did not start): when it exits, PID 1 collects it.
    static func startVirtlogd(host: LabHostLayout, libvirtdPid: Int32, tools: LabTools) async throws {
        let status = try await LabSpawn.run(tools.nsenter, ["-t", "\(libvirtdPid)", "-m", "-n", "--", "/bin/bash", "-c",
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
