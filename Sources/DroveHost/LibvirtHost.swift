import DroveManifest
import DrovePlan
import Foundation
import Libvirt
import Synchronization

/// A libvirt host driven through the binding: observing it and carrying out plan actions.
///
/// Every call is a round trip to a daemon that may be far away, so it remembers what cannot
/// change behind its back within one connection: the pool's handle, template copies it has
/// verified complete (content-addressed names never change content), the paths of disks it made
/// and the domains it defined itself.
public final class LibvirtHost: HostDriver {
    public let name: String
    public let connection: Connection
    let poolName: String

    struct Known {
        var pool: StoragePool?
        /// Complete template copies by digest.
        var templates: [String: StorageVolume] = [:]
        /// Disk paths by volume name, for disks made here.
        var disks: [String: String] = [:]
        /// Domains defined here, by name: Drove's by construction.
        var domains: [String: Domain] = [:]
        var capabilities: (cpus: Int, memoryBytes: UInt64, offersKVM: Bool, hypervisorVersion: UInt64)?
        /// Per MAC, the expiry of the lease it held when its VM was defined here.
        var leaseBaselines: [String: Int64] = [:]
        /// libvirt networks looked up, by name.
        var networks: [String: VirtualNetwork] = [:]
    }

    let known = Mutex(Known())

    /// Connects to the host; `lanes` bounds the libvirt calls in flight against it.
    ///
    /// The URI is checked once more here, against what no configuration accepts (a transport or
    /// parameter that runs a program), whatever path it came by.
    public static func connect(name: String, uri: String, pool: String, lanes: Int) async throws -> LibvirtHost {
        if case let .failure(refusal) = HostURI.check(uri, policy: .anyConfiguration) {
            throw HostURIRefused(host: name, uri: uri, refusal: refusal)
        }
        let connection = try await Connection.open(uri, lanes: lanes)
        // Notice a dead daemon within ~30 s instead of waiting on TCP.
        _ = try? await connection.setKeepAlive(interval: 5, count: 6)
        return LibvirtHost(name: name, connection: connection, pool: pool)
    }

    init(name: String, connection: Connection, pool: String) {
        self.name = name
        self.connection = connection
        self.poolName = pool
    }

    public func close() async {
        known.withLock { $0 = Known() }
        await connection.close()
    }

    // MARK: Events

    public func events() async throws -> AsyncStream<HostEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: HostEvent.self, bufferingPolicy: .bufferingNewest(8192))
        try await connection.onClose { reason in
            continuation.yield(.closed(reason: "connection closed (\(reason))"))
            continuation.finish()
        }
        let domainEvents = try await connection.domainEvents()
        let forwarding = Task {
            for await event in domainEvents {
                continuation.yield(.domain(name: event.domainName, kind: event.kind))
            }
        }
        continuation.onTermination = { _ in forwarding.cancel() }
        return stream
    }

    // MARK: Observe

    public func observe() async -> ObservedHost {
        do {
            return try await read()
        } catch {
            return ObservedHost(name: name, unreachable: String(describing: error))
        }
    }

    /// A bounded number of calls: the host's size once per connection, then one list of volumes,
    /// one list of domains, and one XML read per domain (its metadata, agent state and whether
    /// it runs, together; and the leases of each network its VMs are on, once). Placement goes by
    /// capacity and overcommit, so free memory is not read.
    private func read() async throws -> ObservedHost {
        let capabilities = try await hostCapabilities()
        let volumeNames = try await requirePool().volumeNames()

        var vms: [String: ObservedVM] = [:]
        var foreign: Set<String> = []
        let leases = LeaseTable()
        // Paused domains Drove may resume (a start cut off, a pause by hand) count as stopped.
        var paused = Set<String>()
        for domain in try await connection.listAllDomains(pausedOnly: true) where !Self.isGoldenDomain(domain.name) {
            if let (state, reason) = try? await domain.stateAndReason(), state == .paused, Domain.mayResume(pausedFor: reason) {
                paused.insert(domain.name)
            }
        }
        let volumes = Set(volumeNames)
        for domain in try await connection.listAllDomains() where !Self.isGoldenDomain(domain.name) {
            switch try await observe(domain, leases: leases, paused: paused.contains(domain.name), volumes: volumes) {
            case let .drove(vm): vms[vm.name] = vm
            case .foreign: foreign.insert(domain.name)
            case .absent: continue // undefined between the listing and this read
            }
        }

        var templates: [String: TemplateCopy] = [:]
        var ready: Set<String> = []
        var disks: Set<String> = []
        var goldenParts: [GoldenName: Set<String>] = [:]
        for volume in volumeNames {
            switch Naming.classify(volume: volume) {
            case let .template(digest): templates[digest] = TemplateCopy(digest: digest, volume: volume, complete: false)
            case let .templateReady(digest): ready.insert(digest)
            case .disk: disks.insert(volume)
            case let .golden(golden, _): goldenParts[golden, default: []].insert(volume)
            case .companion, .notDroves: break
            }
        }
        let goldens = Dictionary(goldenParts.map { golden, parts in (golden.key, Self.golden(golden, parts: parts)) },
                                 uniquingKeysWith: { first, _ in first })
        for digest in ready where templates[digest] != nil { templates[digest]?.complete = true }
        let used = Set(vms.values.map(\.volume))

        return ObservedHost(name: name, cpus: capabilities.cpus, memoryBytes: capabilities.memoryBytes,
                            offersKVM: capabilities.offersKVM, templates: templates, vms: vms, foreignDomains: foreign,
                            strayVolumes: disks.subtracting(used), goldens: goldens, hypervisorVersion: capabilities.hypervisorVersion)
    }

    public func observeDomain(_ name: String) async throws -> DomainObservation {
        guard !Self.isGoldenDomain(name) else { return .absent } // a golden guest at work, never a VM
        guard let domain = try await connection.domain(named: name) else { return .absent }
        do {
            let (state, reason) = try await domain.stateAndReason()
            return try await observe(domain, leases: LeaseTable(), paused: state == .paused && Domain.mayResume(pausedFor: reason),
                                     volumes: Set(try await requirePool().volumeNames()))
        } catch let error as LibvirtError where error.isNoDomain {
            return .absent
        }
    }

    /// One XML read: ownership, whether it runs, whether its guest opened the agent channel.
    /// A paused domain is active but does no work. One left so by a start that was cut off, or
    /// paused by hand, counts as stopped, and starting it resumes it; one paused for an I/O
    /// error, a migration or a snapshot is left to what paused it.
    private func observe(_ domain: Domain, leases: LeaseTable, paused: Bool, volumes: Set<String>) async throws -> DomainObservation {
        var snapshot: DomainSnapshot
        do {
            snapshot = DomainSnapshot(xml: try await domain.xml())
        } catch let error as LibvirtError where error.isNoDomain {
            return .absent
        }
        if paused { snapshot.isRunning = false }
        guard let record = snapshot.metadata else { return .foreign }
        return .drove(ObservedVM(
            name: domain.name, set: record.set, ordinal: record.ordinal, specHash: record.specHash,
            templateDigest: record.templateDigest, volume: record.volume, vcpus: record.vcpus,
            memoryBytes: record.memoryBytes, state: snapshot.isRunning ? .running : .stopped,
            agentConnected: snapshot.isRunning && snapshot.agentConnected == true,
            addresses: snapshot.isRunning ? await addresses(of: domain, interfaces: snapshot.interfaces, leases: leases) : [],
            addressable: snapshot.interfaces.contains { $0.type == "network" || $0.type == "bridge" },
            missingVolumes: snapshot.diskFiles.map { URL(fileURLWithPath: $0).lastPathComponent }
                .filter { Naming.classify(volume: $0) != .notDroves && !volumes.contains($0) },
            golden: record.golden))
    }

    /// The addresses libvirt knows of a running domain's NICs on libvirt networks (their DHCP
    /// leases) and bridges (the host's ARP table), in NIC order. User-mode NICs have none that
    /// the host can see, and the agent is never asked (a guest that opens the channel without
    /// an agent behind it would never answer). A failed read is no address, not a failed look.
    ///
    /// A VM remade with the same MAC (a rolling update keeps MACs) finds its predecessor's lease
    /// still in dnsmasq's table; a lease counts only once it was renewed after the VM was
    /// defined here (`leaseBaselines`), so "an address is known" means this guest asked for it.
    private func addresses(of domain: Domain, interfaces: [(type: String, mac: String, network: String?)],
                           leases table: LeaseTable) async -> [String] {
        var leases: [String: [DHCPLease]] = [:]
        for network in Set(interfaces.compactMap { $0.type == "network" ? $0.network : nil }) {
            if let known = table.leases(of: network) {
                leases[network] = known
            } else {
                leases[network] = await dhcpLeases(of: network)
                table.remember(leases[network]!, of: network)
            }
        }
        var seen: [String: [String]] = [:]
        if interfaces.contains(where: { $0.type == "bridge" }), let arp = try? await domain.interfaceAddresses(source: .arp) {
            for interface in arp { if let mac = interface.mac { seen[mac.lowercased(), default: []] += interface.addresses.map(\.address) } }
        }
        let baselines = known.withLock { $0.leaseBaselines }
        return interfaces.flatMap { interface -> [String] in
            let mac = interface.mac.lowercased()
            switch interface.type {
            case "network":
                return (leases[interface.network ?? ""] ?? [])
                    .filter { $0.mac.lowercased() == mac && $0.expiryTime > (baselines[mac] ?? Int64.min) }.map(\.address)
            case "bridge": return seen[mac] ?? []
            default: return []
            }
        }
    }

    /// The network's leases, its handle looked up once per connection (and again after a failed
    /// read: the network may have been redefined); none when it cannot be read.
    private func dhcpLeases(of name: String) async -> [DHCPLease] {
        var network = known.withLock { $0.networks[name] }
        if network == nil, let found = try? await connection.network(named: name) {
            network = found
            known.withLock { $0.networks[name] = found }
        }
        guard let network else { return [] }
        do {
            return try await network.dhcpLeases()
        } catch {
            known.withLock { _ = $0.networks.removeValue(forKey: name) }
            return []
        }
    }

    /// Notes the expiry of any lease the VM's MACs already hold on its networks (left by a VM
    /// this one replaces), so that only a lease renewed from now on counts as its address.
    private func recordLeaseBaselines(_ vm: VMInstance) async {
        var baselines: [String: Int64] = [:]
        let networks = Set(vm.nics.compactMap { $0.network.type == .network ? $0.network.source : nil })
        for network in networks {
            let leases = await dhcpLeases(of: network)
            for nic in vm.nics where nic.network.source == network {
                if let lease = leases.first(where: { $0.mac.lowercased() == nic.mac.lowercased() }) { baselines[nic.mac.lowercased()] = lease.expiryTime }
            }
        }
        known.withLock { known in
            for nic in vm.nics { known.leaseBaselines[nic.mac.lowercased()] = baselines[nic.mac.lowercased()] }
        }
    }

    /// CPUs, memory and whether `kvm` is offered: they do not change while a daemon runs.
    private func hostCapabilities() async throws -> (cpus: Int, memoryBytes: UInt64, offersKVM: Bool, hypervisorVersion: UInt64) {
        if let cached = known.withLock({ $0.capabilities }) { return cached }
        let info = try await connection.nodeInfo()
        let offersKVM = try await connection.capabilities().offers("kvm")
        let capabilities = (cpus: info.cpus, memoryBytes: info.memoryBytes, offersKVM: offersKVM,
                            hypervisorVersion: try await connection.hypervisorVersion())
        known.withLock { $0.capabilities = capabilities }
        return capabilities
    }

    func requirePool() async throws -> StoragePool {
        if let pool = known.withLock({ $0.pool }) { return pool }
        guard let pool = try await connection.storagePool(named: poolName) else {
            throw HostError(host: name, object: "pool \(poolName)", cause: "no such storage pool", transient: false)
        }
        known.withLock { $0.pool = pool }
        return pool
    }

    // MARK: Act

    public func perform(_ action: Action, progress: TransferProgress?) async throws -> String? {
        do {
            switch action.kind {
            case let .restoreVM(vm, golden): return try await restore(vm, golden: golden)
            case let .makeGolden(golden): try await makeGolden(golden)
            case let .deleteGolden(golden): try await deleteGolden(golden)
            case let .copyTemplate(template): try await copy(template, progress: progress)
            case let .createDisk(vm): try await createDisk(vm)
            case let .defineVM(vm): try await define(vm)
            case let .startVM(vm): try await start(vm)
            case let .stopVM(vm): try await stop(vm)
            case let .removeVM(vm): try await remove(vm)
            case let .deleteVolume(volume): try await deleteVolume(volume)
            case let .deleteTemplateCopy(digest, volume): try await deleteTemplate(digest: digest, volume: volume)
            }
            return nil
        } catch let error as HostError {
            throw error
        } catch let error as LibvirtError {
            // A handle may have gone stale (a pool or domain redefined behind Drove's back).
            if error.isNoStoragePool || error.isNoDomain || error.isNoStorageVolume { forgetHandles() }
            throw HostError(host: name, object: error.object ?? action.summary, cause: error.description, transient: error.isTransient)
        } catch {
            throw HostError(host: name, object: action.summary, cause: String(describing: error), transient: false)
        }
    }

    private func forgetHandles() {
        known.withLock { known in
            known.pool = nil
            known.networks = [:]
            known.templates = [:]
            known.domains = [:]
        }
    }

    /// Uploads the template, then writes the ready marker. A copy without its marker is partial
    /// (an upload that was cut off) and is replaced, never used. Within one process a copy is
    /// never made twice at once (the engine's single flight), so a copy without its marker
    /// here is one that was cut off.
    private func copy(_ template: TemplateImage, progress: TransferProgress?) async throws {
        let pool = try await requirePool()
        let marker = Naming.templateReadyMarker(digest: template.digest)
        let existing = try await pool.volume(named: template.volume)
        if let existing, try await pool.volume(named: marker) != nil {
            known.withLock { $0.templates[template.digest] = existing }
            return
        }
        if let existing { try await existing.delete() }
        if let staleMarker = try await pool.volume(named: marker) { try await staleMarker.delete() }

        // A pool too small fails here, with the numbers, rather than midway with ENOSPC. (A
        // refresh sees space freed outside libvirt; it is refused while another upload runs.)
        try? await pool.refresh()
        let available = try await pool.info().available
        guard available >= template.fileBytes else {
            throw HostError(host: name, object: "template \(template.name)",
                            cause: "pool \(poolName) has \(Self.mebibytes(available)) free; its copy needs \(Self.mebibytes(template.fileBytes))",
                            transient: true)
        }
        let volume = try await pool.createVolume(xml: VolumeXML.image(
            name: template.volume, format: template.format, capacity: max(template.virtualBytes, template.fileBytes)))
        do {
            try await volume.upload(from: template.path, progress: progress)
        } catch {
            // Nothing half-made is left to hold the space (a cut-off process leaves its partial
            // copy, without a marker, for the next attempt to replace).
            try? await volume.delete()
            throw error
        }
        _ = try await pool.createVolume(xml: VolumeXML.marker(name: marker))
        known.withLock { $0.templates[template.digest] = volume }
    }

    static func mebibytes(_ bytes: UInt64) -> String {
        String(format: "%.1f MiB (%llu bytes)", Double(bytes) / 1_048_576, bytes)
    }

    func completeTemplate(_ template: TemplateImage, in pool: StoragePool) async throws -> StorageVolume {
        if let volume = known.withLock({ $0.templates[template.digest] }) { return volume }
        guard try await pool.volume(named: Naming.templateReadyMarker(digest: template.digest)) != nil,
              let volume = try await pool.volume(named: template.volume) else {
            throw HostError(host: name, object: "template \(template.name)",
                            cause: "no complete copy of \(template.volume) in pool \(poolName)", transient: true)
        }
        known.withLock { $0.templates[template.digest] = volume }
        return volume
    }

    /// Makes the VM's disk anew, then its companions: the NoCloud seed (if the set has one) and
    /// the empty file virtlogd writes its serial console to. Anything left by an earlier attempt
    /// cannot be verified (a full copy may have been cut off), and no domain uses it yet, so it
    /// is replaced.
    private func createDisk(_ vm: VMInstance) async throws {
        let pool = try await requirePool()
        let template = try await completeTemplate(vm.template, in: pool)
        let goldenDisk: StorageVolume? = if let golden = vm.golden { try await completeGoldenDisk(golden.name, in: pool) } else { nil }
        let disk = try await replacing(vm.volume, in: pool) {
            // A VM that resumes from a golden snapshot needs the disk the golden guest ran on.
            if let goldenDisk {
                return try await pool.createVolume(xml: VolumeXML.overlay(
                    name: vm.volume, capacity: vm.template.virtualBytes, backingPath: goldenDisk.path, backingFormat: "qcow2"))
            }
            switch vm.clone {
            case .linked:
                return try await pool.createVolume(xml: VolumeXML.overlay(
                    name: vm.volume, capacity: vm.template.virtualBytes, backingPath: template.path,
                    backingFormat: vm.template.format))
            case .full:
                return try await pool.createVolume(
                    xml: VolumeXML.image(name: vm.volume, format: "qcow2", capacity: vm.template.virtualBytes),
                    copying: template)
            }
        }
        var paths = [vm.volume: disk.path]
        if let seed = vm.seed {
            let made = try await SeedImage.make(seed, for: vm.name)
            defer { try? FileManager.default.removeItem(at: made.directory) }
            let size = try FileManager.default.attributesOfItem(atPath: made.image.path)[.size] as? UInt64 ?? 0
            let name = Naming.seedVolume(vm: vm.name)
            let volume = try await replacing(name, in: pool) {
                try await pool.createVolume(xml: VolumeXML.image(name: name, format: "raw", capacity: size))
            }
            try await volume.upload(from: made.image.path)
            paths[name] = volume.path
        }
        let log = Naming.consoleLogVolume(vm: vm.name)
        paths[log] = try await replacing(log, in: pool) {
            try await pool.createVolume(xml: VolumeXML.image(name: log, format: "raw", capacity: 0))
        }.path
        known.withLock { $0.disks.merge(paths) { _, new in new } }
    }

    /// Creates a volume with `make`, deleting a leftover of the same name first if there is one.
    func replacing(_ name: String, in pool: StoragePool,
                           _ make: @Sendable () async throws -> StorageVolume) async throws -> StorageVolume {
        do {
            return try await make()
        } catch let error as LibvirtError where error.isVolumeExists {
            try await pool.volume(named: name)?.delete()
            return try await make()
        }
    }

    /// The path of a volume made here, else looked up; nil when it does not exist.
    func volumePath(_ name: String) async throws -> String? {
        if let path = known.withLock({ $0.disks[name] }) { return path }
        return try await requirePool().volume(named: name)?.path
    }

    private func define(_ vm: VMInstance) async throws {
        if let existing = try await connection.domain(named: vm.name) {
            try await requireOwned(existing)
        }
        guard let diskPath = try await volumePath(vm.volume) else {
            throw HostError(host: name, object: "vm \(vm.name)", cause: "its disk \(vm.volume) is missing", transient: true)
        }
        var seedPath: String?
        if vm.seed != nil {
            seedPath = try await volumePath(Naming.seedVolume(vm: vm.name))
            guard seedPath != nil else {
                throw HostError(host: name, object: "vm \(vm.name)", cause: "its seed \(Naming.seedVolume(vm: vm.name)) is missing", transient: true)
            }
        }
        let definition = DomainDefinition(
            name: vm.name, domainType: vm.domainType, vcpus: vm.resources.vcpus, memoryBytes: vm.resources.memory,
            cpuMode: DomainDefinition.CPUMode(rawValue: vm.resources.cpuMode.rawValue) ?? .default, diskPath: diskPath,
            diskFormat: "qcow2", interfaces: vm.nics.map(Self.interface), seedPath: seedPath,
            consoleLogPath: try await volumePath(Naming.consoleLogVolume(vm: vm.name)),
            metadata: VMMetadata(set: vm.set, ordinal: vm.ordinal, specHash: vm.specHash,
                                 templateDigest: vm.template.digest, volume: vm.volume,
                                 vcpus: vm.resources.vcpus, memoryBytes: vm.resources.memory, golden: vm.golden?.name.key))
        await recordLeaseBaselines(vm)
        let domain = try await connection.defineDomain(xml: definition.xml())
        known.withLock { known in
            known.domains[vm.name] = domain
            known.disks[vm.volume] = nil
            for companion in Naming.companionVolumes(vm: vm.name) { known.disks[companion] = nil }
        }
    }

    static func interface(_ nic: NIC) -> DomainDefinition.Interface {
        let attachment: DomainDefinition.Interface.Attachment = switch nic.network.type {
        case .network: .network(nic.network.source ?? "default")
        case .bridge: .bridge(nic.network.source ?? "")
        case .user: .user
        }
        return DomainDefinition.Interface(attachment: attachment, model: nic.network.model, mac: nic.mac)
    }

    /// A Drove domain: one defined here, or one whose metadata says so.
    func ownedDomain(_ vm: String) async throws -> Domain? {
        if let domain = known.withLock({ $0.domains[vm] }) { return domain }
        guard let domain = try await connection.domain(named: vm) else { return nil }
        try await requireOwned(domain)
        return domain
    }

    /// Refuses to act on a domain without Drove's metadata.
    private func requireOwned(_ domain: Domain) async throws {
        guard let xml = try await domain.metadata(namespace: VMMetadata.namespace), VMMetadata(xml: xml) != nil else {
            throw HostError(host: name, object: "domain \(domain.name)",
                            cause: "exists but was not made by Drove; it is left alone", transient: false)
        }
    }

    /// Starts the domain; one already running is what was asked for.
    func start(_ vm: String) async throws {
        guard let domain = try await ownedDomain(vm) else {
            throw HostError(host: name, object: "vm \(vm)", cause: "is not defined", transient: true)
        }
        do {
            try await domain.start()
        } catch let error as LibvirtError where error.isOperationInvalid {
            // Already up: running, or paused (then it is resumed).
            if try await !domain.isActive() { throw error }
            let (state, reason) = try await domain.stateAndReason()
            if state == .paused, Domain.mayResume(pausedFor: reason) { try await domain.resume() }
        }
    }

    /// Asks the guest to power off, and pulls the plug if it has not within 10 seconds.
    private func stop(_ vm: String) async throws {
        guard let domain = try await ownedDomain(vm), try await domain.isActive() else { return }
        try? await domain.shutdown()
        for _ in 0..<20 {
            if try await !domain.isActive() { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        if try await domain.isActive() { try await domain.destroy() }
    }

    private func remove(_ vm: String) async throws {
        let cached = known.withLock { $0.domains.removeValue(forKey: vm) }
        let domain: Domain
        if let cached {
            domain = cached
        } else {
            guard let found = try await ownedDomain(vm) else { return }
            domain = found
        }
        do {
            try await domain.destroy()
        } catch let error as LibvirtError where error.isOperationInvalid {
            // not running
        } catch let error as LibvirtError where error.isNoDomain {
            return
        }
        do {
            try await domain.undefine()
        } catch let error as LibvirtError where error.isNoDomain {
            return
        }
    }

    /// Deletes a VM's disk and, first, its companions (seed, console log).
    private func deleteVolume(_ volume: String) async throws {
        guard Naming.classify(volume: volume) == .disk, let vm = Naming.vm(ofDisk: volume) else {
            throw HostError(host: name, object: "volume \(volume)", cause: "is not a Drove disk", transient: false)
        }
        let pool = try await requirePool()
        for name in Naming.companionVolumes(vm: vm) + [volume] {
            known.withLock { _ = $0.disks.removeValue(forKey: name) }
            try await pool.volume(named: name)?.delete()
        }
    }

    /// Deletes the marker first: a crash in between leaves an unmarked (partial) copy, which
    /// nothing uses and the next prune removes.
    private func deleteTemplate(digest: String, volume: String) async throws {
        let pool = try await requirePool()
        // Whatever a plan says, a copy a disk still rests on stays: its VM would lose its
        // backing file. (Rare: a template's copies go only when it is deleted.)
        if let copy = try await pool.volume(named: volume),
           let disk = try await volumeResting(on: copy, in: pool, among: { $0.restsOnTemplate }) {
            throw HostError(host: name, object: "template copy \(volume)", cause: "disk \(disk) still rests on it", transient: true)
        }
        known.withLock { _ = $0.templates.removeValue(forKey: digest) }
        try await pool.volume(named: Naming.templateReadyMarker(digest: digest))?.delete()
        try await pool.volume(named: volume)?.delete()
    }
}

extension LibvirtHost {
    /// A volume of the pool, of the kinds `among` accepts, whose backing file is `backing`; nil
    /// if none rests on it.
    func volumeResting(on backing: StorageVolume, in pool: StoragePool,
                among kinds: (Naming.PoolEntry) -> Bool) async throws -> String? {
        for volume in try await pool.volumeNames() where kinds(Naming.classify(volume: volume)) {
            if let xml = try? await pool.volume(named: volume)?.xml(), xml.contains("<path>\(backing.path)</path>") { return volume }
        }
        return nil
    }
}

/// The leases of each network, read once per look at a host however many of its VMs are on it.
final class LeaseTable: Sendable {
    private let table = Mutex([String: [DHCPLease]]())

    func leases(of network: String) -> [DHCPLease]? { table.withLock { $0[network] } }
    func remember(_ leases: [DHCPLease], of network: String) { table.withLock { $0[network] = leases } }
}

/// A host URI refused before any connection was tried.
public struct HostURIRefused: Error, Sendable, CustomStringConvertible {
    public let host: String
    public let uri: String
    public let refusal: HostURI.Refusal
    public var description: String { "Host/\(host): \"\(uri)\" \(refusal.message)" }
}
