import Foundation

/// Writes a host's directories and configuration before its daemons start.
enum LabFiles {
    static func prepare(_ host: LabHostLayout) throws {
        let files = FileManager.default
        do {
            for directory in host.directories {
                try files.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            // Rewritten at every start: they are the lab's, and a newer drove may render them better.
            try write(LabConfig.qemuConf(index: host.index), to: host.qemuConf)
            try write(LabConfig.libvirtdConf(), to: host.libvirtdConf)
            try write(LabConfig.virtlogdConf(), to: host.virtlogdConf)
            try definePool(host)
            // A fresh start log, so an error shows this start's output and not an older one's.
            try write("drove lab: starting \(host.name) at \(Date())\n", to: host.startLog)
        } catch let error as LabError {
            throw error
        } catch {
            throw LabError.cannotPrepare(host: host.name, detail: "\(error)")
        }
    }

    /// Defines the `default` pool the way libvirtd itself persists one: its XML in
    /// `etc/storage/`, and a symlink in `etc/storage/autostart/` so the daemon starts it at
    /// boot. The link is relative, so it resolves both outside the namespace and inside it
    /// (where `etc` is `/etc/libvirt`). An existing definition (and its UUID) is kept.
    static func definePool(_ host: LabHostLayout) throws {
        let files = FileManager.default
        let autostart = host.storageDirectory.appendingPathComponent("autostart", isDirectory: true)
        try files.createDirectory(at: autostart, withIntermediateDirectories: true)
        let definition = host.storageDirectory.appendingPathComponent("default.xml")
        if !files.fileExists(atPath: definition.path) {
            try write(LabConfig.poolXML(path: host.pool.path, uuid: UUID()), to: definition)
        }
        let link = autostart.appendingPathComponent("default.xml")
        if (try? files.destinationOfSymbolicLink(atPath: link.path)) == nil {
            try files.createSymbolicLink(atPath: link.path, withDestinationPath: "../default.xml")
        }
    }

    /// QEMU pid files in the host's `run/qemu/`, as (domain, pid). `driver.pid` there is the QEMU
    /// driver's lock, holding libvirtd's own pid, and is no guest.
    static func qemuPids(_ host: LabHostLayout) -> [(domain: String, pid: Int32)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: host.qemuRunDirectory.path)) ?? []
        return names.filter { $0.hasSuffix(".pid") && $0 != "driver.pid" }.sorted().compactMap { name in
            guard let pid = LabProcesses.readPidFile(host.qemuRunDirectory.appendingPathComponent(name)) else { return nil }
            return (String(name.dropLast(4)), pid)
        }
    }

    private static func write(_ text: String, to url: URL) throws {
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}
