import Foundation

/// Where a lab keeps its files. Pure path arithmetic, no I/O.
///
/// Every host lives in `<lab>/node-<i>/`; its directories are bind-mounted over libvirt's own
/// inside the host's mount namespace, so a path under `run/` outside is `/run/libvirt/` inside.
public struct LabLayout: Sendable, Equatable {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory.standardizedFileURL
    }

    /// `$DROVE_LAB_DIR`, else `/var/lib/drove/lab`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = environment["DROVE_LAB_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir, isDirectory: true)
        }
        return URL(fileURLWithPath: "/var/lib/drove/lab", isDirectory: true)
    }

    /// The manifest of `Host` objects that `up` writes.
    public var hostsManifest: URL { directory.appendingPathComponent("hosts.yaml") }

    public func host(_ index: Int) -> LabHostLayout {
        LabHostLayout(index: index, directory: directory.appendingPathComponent(LabHostLayout.name(index), isDirectory: true))
    }

    /// The index in a host directory's name (`node-3` → 3), or nil for anything else.
    public static func index(ofHostNamed name: String) -> Int? {
        guard name.hasPrefix("node-"), let index = Int(name.dropFirst(5)), index >= 1,
              LabHostLayout.name(index) == name else { return nil }
        return index
    }
}

/// The paths of one lab host.
public struct LabHostLayout: Sendable, Equatable {
    public let index: Int
    public let directory: URL

    public static func name(_ index: Int) -> String { "node-\(index)" }
    public var name: String { Self.name(index) }

    /// Seen inside the namespace as `/run/libvirt`: sockets, pid files, QEMU's runtime state.
    public var run: URL { sub("run") }
    /// `/var/lib/libvirt`.
    public var lib: URL { sub("lib") }
    /// `/etc/libvirt`: qemu.conf, libvirtd.conf, storage pool definitions.
    public var etc: URL { sub("etc") }
    /// `/var/log/libvirt`.
    public var log: URL { sub("log") }
    /// `/var/cache/libvirt`.
    public var cache: URL { sub("cache") }
    /// The `default` pool's target; not bind-mounted, so the same path inside and out.
    public var pool: URL { sub("pool") }

    /// `/var/log/libvirt/qemu`, as Debian's package ships it: guests' console logs go there, and
    /// QEMU's driver does not make it before the first guest starts.
    public var qemuLog: URL { log.appendingPathComponent("qemu") }

    /// Every directory `up` creates, in creation order.
    public var directories: [URL] { [run, lib, etc, log, qemuLog, cache, pool] }

    public var socket: URL { run.appendingPathComponent("libvirt-sock") }
    public var libvirtdPidFile: URL { run.appendingPathComponent("libvirtd.pid") }
    public var virtlogdPidFile: URL { run.appendingPathComponent("virtlogd.pid") }
    /// The pid of the host's `LabReaper`, which every other process of the host descends from.
    public var reaperPidFile: URL { run.appendingPathComponent("reaper.pid") }
    /// The pid of the dnsmasq libvirtd runs for the `drove-lab` network.
    public var dnsmasqPidFile: URL { run.appendingPathComponent("network/\(LabNetwork.name).pid") }
    /// QEMU's pid files, one `<domain>.pid` per running guest.
    public var qemuRunDirectory: URL { run.appendingPathComponent("qemu") }

    public var qemuConf: URL { etc.appendingPathComponent("qemu.conf") }
    public var libvirtdConf: URL { etc.appendingPathComponent("libvirtd.conf") }
    public var virtlogdConf: URL { etc.appendingPathComponent("virtlogd.conf") }
    public var storageDirectory: URL { etc.appendingPathComponent("storage") }

    public var libvirtdLog: URL { log.appendingPathComponent("libvirtd.log") }
    public var virtlogdLog: URL { log.appendingPathComponent("virtlogd.log") }
    /// Output of the namespace script (mount errors, daemons' start-up complaints).
    public var startLog: URL { log.appendingPathComponent("start.log") }

    /// How a client outside the namespace reaches this host's libvirtd.
    public var uri: String { "qemu+unix:///system?socket=\(socket.path)" }

    private func sub(_ name: String) -> URL { directory.appendingPathComponent(name, isDirectory: true) }
}
