import Foundation

/// Writes a host's directories and configuration before its daemons start.
enum LabFiles {
    static func prepare(_ host: LabHostLayout, portSlot: Int) throws {
        let files = FileManager.default
        do {
            for directory in host.directories {
                try files.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            // Rewritten at every start: they are the lab's, and a newer drove may render them better.
            try write(LabConfig.qemuConf(index: host.index, slot: portSlot), to: host.qemuConf)
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

/// Which block of display ports a lab uses, so labs side by side never hand out the same VNC
/// port: chosen once, as the lowest slot no other lab in the same parent directory holds, and
/// kept in `<lab>/display-slot`.
enum LabPortSlot {
    static let fileName = "display-slot"

    static func claim(for lab: URL) throws -> Int {
        let files = FileManager.default
        let parent = lab.deletingLastPathComponent()
        try files.createDirectory(at: parent, withIntermediateDirectories: true)
        // Labs started at the same moment take turns, so no two claim the same slot.
        let lock = open(parent.appendingPathComponent(".display-slots.lock").path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw LabError.cannotPrepare(host: lab.lastPathComponent, detail: "cannot lock \(parent.path)") }
        defer { close(lock) }
        flock(lock, LOCK_EX)
        let mine = lab.appendingPathComponent(fileName)
        if let text = try? String(contentsOf: mine, encoding: .utf8), let slot = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)),
           (0..<LabConfig.portSlots).contains(slot) {
            return slot
        }
        let siblings = (try? files.contentsOfDirectory(at: parent, includingPropertiesForKeys: nil)) ?? []
        let taken = Set(siblings.filter { $0.standardizedFileURL != lab.standardizedFileURL }.compactMap { sibling in
            (try? String(contentsOf: sibling.appendingPathComponent(fileName), encoding: .utf8))
                .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        })
        let slot = (0..<LabConfig.portSlots).first { !taken.contains($0) } ?? 0
        try files.createDirectory(at: lab, withIntermediateDirectories: true)
        try "\(slot)\n".write(to: mine, atomically: true, encoding: .utf8)
        return slot
    }
}
