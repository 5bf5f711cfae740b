import Foundation

/// libvirtd probes each QEMU binary (about 4 s apiece here, 8 s for the two Debian installs) the
/// first time anything on the host needs its capabilities, typically the first domain defined,
/// and caches the result in `/var/cache/libvirt/qemu/capabilities/`. Every lab host has its own
/// cache directory, so each would probe again; the result is the same on one machine, so the lab
/// probes once and copies the cache to the other hosts. libvirt still validates a cached entry
/// (QEMU's and libvirtd's ctime and version) and probes again if it is stale.
enum LabCapabilities {
    static func cacheDirectory(_ host: LabHostLayout) -> URL {
        host.cache.appendingPathComponent("qemu/capabilities", isDirectory: true)
    }

    static func cachedFiles(_ host: LabHostLayout) -> [URL] {
        let directory = cacheDirectory(host)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".xml") }.sorted().map { directory.appendingPathComponent($0) }
    }

    /// Leaves every host with QEMU's capabilities cached: probes on one host if none has them
    /// yet, and copies them to hosts that have none (running hosts read the copy on first use).
    static func warm(_ hosts: [LabHostLayout], timeout: Duration) async throws {
        let cold = hosts.filter { cachedFiles($0).isEmpty }
        guard !cold.isEmpty else { return }
        var source = hosts.first { !cachedFiles($0).isEmpty }
        if source == nil, let first = cold.first {
            do {
                _ = try await LabLibvirt.withConnection(first.uri, timeout: timeout) { try await $0.capabilitiesXML() }
            } catch {
                throw LabError.startFailed(host: first.name, detail: "probing QEMU's capabilities failed: \(error)",
                                           log: LabLogs.tail(of: first))
            }
            source = first
        }
        guard let source else { return }
        let files = cachedFiles(source)
        for host in cold where host != source {
            let directory = cacheDirectory(host)
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                for file in files {
                    let target = directory.appendingPathComponent(file.lastPathComponent)
                    if !FileManager.default.fileExists(atPath: target.path) {
                        try FileManager.default.copyItem(at: file, to: target)
                    }
                }
            } catch {
                throw LabError.cannotPrepare(host: host.name, detail: "could not copy QEMU's capabilities cache: \(error)")
            }
        }
    }
}
