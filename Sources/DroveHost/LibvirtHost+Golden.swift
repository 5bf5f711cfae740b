import DroveManifest
import DrovePlan
import Foundation
import Libvirt

/// Golden snapshots and the VMs that resume from them (`start: snapshot`,
/// docs/instant-clones.md).
///
/// A golden snapshot is a pair in the pool: the disk its guest ran on (an overlay of the
/// template copy) and libvirt's save image of that guest, saved once it opened Drove's identity
/// channel (it then waits there, before reading its seed or asking DHCP). A ready marker is
/// written last; a pair without it is partial and never used. A clone's disk is an overlay of
/// the golden disk; it is restored from its own copy of the save image whose header names it
/// (libvirt refuses a changed UUID through its own XML override), and then told its identity.
extension LibvirtHost {
    /// How long a golden guest may take to ask for its identity before its template is taken
    /// as one that cannot resume (its sets boot on this host).
    static let goldenBootTimeout: Duration = .seconds(300)

    static func isGoldenDomain(_ name: String) -> Bool { name.hasPrefix("drove.golden.") }

    static func golden(_ name: GoldenName, parts: Set<String>) -> GoldenCopy {
        if parts.contains(name.unsupportedMarker) { return GoldenCopy(name: name, state: .unsupported) }
        let complete = [name.readyMarker, name.disk, name.memory].allSatisfy(parts.contains)
        return GoldenCopy(name: name, state: complete ? .complete : .partial)
    }

    /// The golden disk, if the golden snapshot is complete.
    func completeGoldenDisk(_ golden: GoldenName, in pool: StoragePool) async throws -> StorageVolume {
        guard try await pool.volume(named: golden.readyMarker) != nil, let disk = try await pool.volume(named: golden.disk) else {
            throw HostError(host: name, object: "golden snapshot \(golden.key)", cause: "is not complete in pool \(poolName)", transient: true)
        }
        return disk
    }

    // MARK: Making one

    /// Boots the golden guest, waits until it opens its identity channel, saves it, and marks
    /// the pair ready. A guest that never opens the channel marks the golden unsupported.
    func makeGolden(_ golden: GoldenImage) async throws {
        let pool = try await requirePool()
        let volumes = Set(try await pool.volumeNames())
        switch Self.golden(golden.name, parts: volumes) {
        case GoldenCopy(name: golden.name, state: .complete): return
        case GoldenCopy(name: golden.name, state: .unsupported): throw unsupported(golden, "marked so earlier")
        default: break
        }
        // Whatever an earlier attempt left is unverifiable: start over.
        try await removeGoldenDomain(golden.name)
        for volume in golden.name.volumes where volumes.contains(volume) { try await pool.volume(named: volume)?.delete() }

        let template = try await completeTemplate(golden.template, in: pool)
        let disk = try await pool.createVolume(xml: VolumeXML.overlay(
            name: golden.name.disk, capacity: golden.template.virtualBytes, backingPath: template.path,
            backingFormat: golden.template.format))
        var seedPath: String?
        if golden.seeded {
            // The device must be there when the guest is saved; each clone brings its own seed.
            let seed = Seed(metaData: "instance-id: \"golden-\(golden.name.key)\"\nlocal-hostname: \"golden\"\n", userData: "", networkConfig: nil)
            let made = try await SeedImage.make(seed, for: golden.name.domain)
            defer { try? FileManager.default.removeItem(at: made.directory) }
            let size = try FileManager.default.attributesOfItem(atPath: made.image.path)[.size] as? UInt64 ?? 0
            let volume = try await pool.createVolume(xml: VolumeXML.image(name: golden.name.seed, format: "raw", capacity: size))
            try await volume.upload(from: made.image.path)
            seedPath = volume.path
        }
        let log = try await pool.createVolume(xml: VolumeXML.image(name: golden.name.consoleLog, format: "raw", capacity: 0))
        let definition = DomainDefinition(
            name: golden.name.domain, domainType: golden.domainType, vcpus: golden.resources.vcpus,
            memoryBytes: golden.resources.memory,
            cpuMode: DomainDefinition.CPUMode(rawValue: golden.resources.cpuMode.rawValue) ?? .default,
            diskPath: disk.path, diskFormat: "qcow2", interfaces: golden.nics.map(Self.interface), seedPath: seedPath,
            consoleLogPath: log.path,
            metadata: VMMetadata(set: "drove.golden", ordinal: 0, specHash: golden.name.key, templateDigest: golden.template.digest,
                                 volume: golden.name.disk, vcpus: golden.resources.vcpus, memoryBytes: golden.resources.memory,
                                 golden: golden.name.key),
            genid: UUID().uuidString.lowercased(), identityChannel: true)
        let domain = try await connection.defineDomain(xml: definition.xml())
        do {
            try await domain.start()
            try await waitForIdentityChannel(domain, golden)
            let memory = try await pool.createVolume(xml: VolumeXML.image(name: golden.name.memory, format: "raw", capacity: 0))
            try await domain.save(to: memory.path)
            try await removeGoldenDomain(golden.name)
            _ = try await pool.createVolume(xml: VolumeXML.marker(name: golden.name.readyMarker))
        } catch {
            try? await removeGoldenDomain(golden.name)
            for volume in [golden.name.memory, golden.name.readyMarker] { try? await pool.volume(named: volume)?.delete() }
            throw error
        }
    }

    /// Polls the golden's live XML until its guest has opened the identity channel. A guest
    /// that stops, or never opens it in time, cannot resume: the golden is marked unsupported
    /// (its volumes go; the marker stays, so no pass boots it again).
    private func waitForIdentityChannel(_ domain: Domain, _ golden: GoldenImage) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + Self.goldenBootTimeout
        while true {
            let snapshot = DomainSnapshot(xml: try await domain.xml())
            if snapshot.identityConnected == true { return }
            let why: String? = if !snapshot.isRunning { "its guest stopped before asking for an identity" }
                else if clock.now >= deadline { "its guest did not ask for an identity within \(Self.goldenBootTimeout)" }
                else { nil }
            if let why {
                let pool = try await requirePool()
                try? await removeGoldenDomain(golden.name)
                for volume in golden.name.volumes { try? await pool.volume(named: volume)?.delete() }
                _ = try await pool.createVolume(xml: VolumeXML.marker(name: golden.name.unsupportedMarker))
                throw unsupported(golden, why)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    private func unsupported(_ golden: GoldenImage, _ why: String) -> HostError {
        HostError(host: name, object: "golden snapshot \(golden.name.key) of template \(golden.template.name)",
                  cause: "\(why): the template cannot resume as a clone, so its VMs boot on this host", transient: false)
    }

    /// Destroys and undefines a golden guest's domain, if one is there.
    private func removeGoldenDomain(_ golden: GoldenName) async throws {
        guard let domain = try await connection.domain(named: golden.domain) else { return }
        if try await domain.isActive() { try? await domain.destroy() }
        do { try await domain.undefine() } catch let error as LibvirtError where error.isNoDomain {}
    }

    /// Deletes a golden snapshot (marker first), unless a disk still rests on it.
    func deleteGolden(_ golden: GoldenName) async throws {
        let pool = try await requirePool()
        if let goldenDisk = try await pool.volume(named: golden.disk),
           let disk = try await volumeResting(on: goldenDisk, in: pool, among: { $0 == .disk }) {
            throw HostError(host: name, object: "golden snapshot \(golden.key)", cause: "disk \(disk) still rests on it", transient: true)
        }
        try await removeGoldenDomain(golden)
        for volume in [golden.readyMarker, golden.unsupportedMarker, golden.memory, golden.disk, golden.seed, golden.consoleLog] {
            try await pool.volume(named: volume)?.delete()
        }
    }

    // MARK: Resuming a clone

    /// Restores a defined (never started) VM from its golden snapshot under its own identity,
    /// then tells the guest who it is. Anything that fails before the guest has its identity
    /// boots the VM instead; the note says why.
    func restore(_ vm: String, golden key: String) async throws -> String? {
        guard let domain = try await ownedDomain(vm) else {
            throw HostError(host: name, object: "vm \(vm)", cause: "is not defined", transient: true)
        }
        if try await domain.isActive() { return nil }
        let clock = ContinuousClock()
        let started = clock.now
        do {
            try await resume(domain, vm: vm, golden: key)
            return nil
        } catch {
            if try await domain.isActive() { try? await domain.destroy() }
            try await start(vm)
            let took = clock.now - started
            return "booted instead: the restore failed after \(took.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow))): \(error)"
        }
    }

    private func resume(_ domain: Domain, vm: String, golden key: String) async throws {
        let pool = try await requirePool()
        let persistent = DomainSnapshot(xml: try await domain.xml(inactive: true))
        guard let record = persistent.metadata, let goldenName = Self.goldenName(key, in: try await pool.volumeNames()) else {
            throw HostError(host: name, object: "vm \(vm)", cause: "golden snapshot \(key) is not in pool \(poolName)", transient: false)
        }
        guard try await pool.volume(named: goldenName.readyMarker) != nil, let memory = try await pool.volume(named: goldenName.memory) else {
            throw HostError(host: name, object: "vm \(vm)", cause: "golden snapshot \(key) is not complete", transient: false)
        }
        // The VM's own copy of the image (a reflink where the pool's filesystem can), its
        // header rewritten to the VM's identity, gone once libvirt has read it.
        // One left by a restore that was cut off is deleted first (libvirt's copy refuses an
        // existing name with an internal error, not "volume exists").
        let imageName = Naming.restoreImageVolume(vm: vm)
        try await pool.volume(named: imageName)?.delete()
        let image = try await pool.createVolume(xml: VolumeXML.image(name: imageName, format: "raw", capacity: 0),
                                                copying: memory, reflink: true)
        let restored: Domain
        do {
            restored = try await restoreClone(from: image, domain: domain, vm: vm, persistent: persistent, record: record)
        } catch {
            try? await image.delete()
            throw error
        }
        // libvirt has read all of it: the VM runs from its own memory now.
        try? await image.delete()
        try await tellIdentity(restored, macs: persistent.interfaces.map(\.mac))
    }

    /// Rewrites the image's header to the VM's identity and restores the VM from it.
    private func restoreClone(from image: StorageVolume, domain: Domain, vm: String, persistent: DomainSnapshot,
                              record: VMMetadata) async throws -> Domain {
        let header = try await saveImageHeader(of: image)
        guard let diskPath = persistent.diskFiles.first else {
            throw HostError(host: name, object: "vm \(vm)", cause: "its definition names no disk", transient: false)
        }
        let identity = CloneIdentity(
            name: vm, uuid: try await domain.uuidString(), macs: persistent.interfaces.map(\.mac), diskPath: diskPath,
            seedPath: persistent.diskFiles.dropFirst().first, consoleLogPath: try await volumePath(Naming.consoleLogVolume(vm: vm)),
            metadata: record, genid: UUID().uuidString.lowercased())
        let rewritten = try header.rewritten(xml: try CloneXML.rewrite(header.xml, to: identity))
        try await image.upload(bytes: rewritten.bytes, at: 0)
        return try await connection.restoreDomain(from: image.path, named: vm)
    }

    /// The save image's header: its fixed part first, which says how long the rest is.
    private func saveImageHeader(of image: StorageVolume) async throws -> SaveImageHeader {
        var length = UInt64(SaveImageHeader.fixedBytes)
        for _ in 0..<2 {
            do {
                return try SaveImageHeader(parsing: try await image.download(offset: 0, length: length))
            } catch let SaveImageError.truncated(_, need) {
                length = UInt64(need)
            }
        }
        return try SaveImageHeader(parsing: try await image.download(offset: 0, length: length))
    }

    /// Writes the clone's identity line on its identity channel, `v1 SEED MAC…` (SEED: fresh
    /// random bytes the guest mixes into its RNG), and waits for the guest's `ok`. The channel
    /// stays open until then: the guest's answer would block on a port nobody holds.
    private func tellIdentity(_ domain: Domain, macs: [String]) async throws {
        var seed = [UInt8](repeating: 0, count: 32)
        for index in seed.indices { seed[index] = UInt8.random(in: .min ... .max) }
        let line = (["v1", seed.map { String(format: "%02x", $0) }.joined()] + macs).joined(separator: " ") + "\n"
        let channel = try await domain.openChannel(name: DomainDefinition.identityChannelName)
        do {
            try await channel.send(Array(line.utf8))
            let answer = try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    var answer = ""
                    for try await bytes in channel.output {
                        answer += String(decoding: bytes, as: UTF8.self)
                        if answer.contains("\n") { break }
                    }
                    return answer
                }
                group.addTask {
                    try await Task.sleep(for: Self.identityAnswerTimeout)
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
            await channel.close()
            guard let answer else {
                throw HostError(host: name, object: "vm \(domain.name)", cause: "its guest did not answer its identity within \(Self.identityAnswerTimeout)", transient: false)
            }
            guard answer.hasPrefix("ok") else {
                throw HostError(host: name, object: "vm \(domain.name)", cause: "its guest refused its identity: \(answer.trimmingCharacters(in: .whitespacesAndNewlines))", transient: false)
            }
        } catch {
            await channel.close()
            throw error
        }
    }

    /// How long a resumed guest may take to answer its identity.
    static let identityAnswerTimeout: Duration = .seconds(30)

    static func goldenName(_ key: String, in volumes: [String]) -> GoldenName? {
        for volume in volumes {
            if case let .golden(golden, _) = Naming.classify(volume: volume), golden.key == key { return golden }
        }
        return nil
    }
}

extension Naming.PoolEntry {
    /// A VM disk or a golden disk: volumes that may rest on a template copy.
    var restsOnTemplate: Bool {
        switch self {
        case .disk: true
        case let .golden(_, part): part == ".qcow2"
        default: false
        }
    }
}
