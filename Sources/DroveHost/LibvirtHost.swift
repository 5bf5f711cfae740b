import DroveManifest
import DrovePlan
import Foundation
import Libvirt

/// A libvirt host driven through the binding: observing it and carrying out plan actions.
public final class LibvirtHost: HostDriver {
    public let name: String
    public let connection: Connection
    let poolName: String

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
        await connection.close()
    }

    // MARK: Observe

    public func observe() async -> ObservedHost {
        do {
            return try await read()
        } catch {
            return ObservedHost(name: name, unreachable: String(describing: error))
        }
    }

    /// A bounded number of calls: four for the host, two lists of domains, one list of
    /// volumes, and one XML read per domain (its metadata and agent state together).
    private func read() async throws -> ObservedHost {
        let info = try await connection.nodeInfo()
        // Advisory only (placement uses capacity and overcommit), and not every driver can tell:
        // libvirt's test driver with a node file of its own has no NUMA cells and fails the call.
        // A host that answers everything else is reachable, with its free memory unknown (0).
        let free = (try? await connection.freeMemory()) ?? 0
        let offersKVM = try await connection.capabilities().offers("kvm")
        let pool = try await requirePool()
        let volumeNames = try await pool.volumeNames()
        let running = Set(try await connection.listAllDomains(activeOnly: true).map(\.name))

        var vms: [String: ObservedVM] = [:]
        var foreign: Set<String> = []
        for domain in try await connection.listAllDomains() {
            let snapshot: DomainSnapshot
            do {
                snapshot = DomainSnapshot(xml: try await domain.xml())
            } catch let error as LibvirtError where error.isNoDomain {
                continue // undefined between the listing and this read
            }
            guard let record = snapshot.metadata else {
                foreign.insert(domain.name)
                continue
            }
            let isRunning = running.contains(domain.name)
            vms[domain.name] = ObservedVM(
                name: domain.name, set: record.set, ordinal: record.ordinal, specHash: record.specHash,
                templateDigest: record.templateDigest, volume: record.volume, vcpus: record.vcpus,
                memoryBytes: record.memoryBytes, state: isRunning ? .running : .stopped,
                ready: isRunning && snapshot.agentConnected == true)
        }

        var templates: [String: TemplateCopy] = [:]
        var ready: Set<String> = []
        var disks: Set<String> = []
        for volume in volumeNames {
            switch Naming.classify(volume: volume) {
            case let .template(digest): templates[digest] = TemplateCopy(digest: digest, volume: volume, complete: false)
            case let .templateReady(digest): ready.insert(digest)
            case .disk: disks.insert(volume)
            case .notDroves: break
            }
        }
        for digest in ready where templates[digest] != nil { templates[digest]?.complete = true }
        let used = Set(vms.values.map(\.volume))

        return ObservedHost(name: name, cpus: info.cpus, memoryBytes: info.memoryBytes, freeMemoryBytes: free,
                            offersKVM: offersKVM, templates: templates, vms: vms, foreignDomains: foreign,
                            strayVolumes: disks.subtracting(used))
    }

    private func requirePool() async throws -> StoragePool {
        guard let pool = try await connection.storagePool(named: poolName) else {
            throw HostError(host: name, object: "pool \(poolName)", cause: "no such storage pool", transient: false)
        }
        return pool
    }

    // MARK: Act

    public func perform(_ action: Action, progress: TransferProgress?) async throws {
        do {
            switch action.kind {
            case let .copyTemplate(template): try await copy(template, progress: progress)
            case let .createDisk(vm): try await createDisk(vm)
            case let .defineVM(vm): try await define(vm)
            case let .startVM(vm): try await start(vm)
            case let .stopVM(vm): try await stop(vm)
            case let .removeVM(vm): try await remove(vm)
            case let .deleteVolume(volume): try await deleteVolume(volume)
            case let .deleteTemplateCopy(digest, volume): try await deleteTemplate(digest: digest, volume: volume)
            }
        } catch let error as HostError {
            throw error
        } catch let error as LibvirtError {
            throw HostError(host: name, object: error.object ?? action.summary, cause: error.description,
                            transient: error.isConnectionLost || error.message.contains("asynchronous jobs running"))
        } catch {
            throw HostError(host: name, object: action.summary, cause: String(describing: error), transient: false)
        }
    }

    /// Uploads the template, then writes the ready marker. A copy without its marker is partial
    /// (an upload that was cut off) and is replaced, never used.
    private func copy(_ template: TemplateImage, progress: TransferProgress?) async throws {
        let pool = try await requirePool()
        let marker = Naming.templateReadyMarker(digest: template.digest)
        if try await pool.volume(named: marker) != nil, try await pool.volume(named: template.volume) != nil { return }
        if let partial = try await pool.volume(named: template.volume) { try await partial.delete() }
        if let staleMarker = try await pool.volume(named: marker) { try await staleMarker.delete() }

        let volume = try await pool.createVolume(xml: VolumeXML.image(
            name: template.volume, format: template.format, capacity: max(template.virtualBytes, template.fileBytes)))
        try await volume.upload(from: template.path, progress: progress)
        _ = try await pool.createVolume(xml: VolumeXML.marker(name: marker))
    }

    private func completeTemplate(_ template: TemplateImage, in pool: StoragePool) async throws -> StorageVolume {
        guard try await pool.volume(named: Naming.templateReadyMarker(digest: template.digest)) != nil,
              let volume = try await pool.volume(named: template.volume) else {
            throw HostError(host: name, object: "template \(template.name)",
                            cause: "no complete copy of \(template.volume) in pool \(poolName)", transient: true)
        }
        return volume
    }

    /// Makes the VM's disk anew. A disk left by an earlier attempt cannot be verified (a full
    /// copy may have been cut off), and no domain uses it yet, so it is replaced.
    private func createDisk(_ vm: VMInstance) async throws {
        let pool = try await requirePool()
        let template = try await completeTemplate(vm.template, in: pool)
        if let stale = try await pool.volume(named: vm.volume) { try await stale.delete() }
        switch vm.clone {
        case .linked:
            _ = try await pool.createVolume(xml: VolumeXML.overlay(
                name: vm.volume, capacity: vm.template.virtualBytes, backingPath: template.path,
                backingFormat: vm.template.format))
        case .full:
            _ = try await pool.createVolume(
                xml: VolumeXML.image(name: vm.volume, format: "qcow2", capacity: vm.template.virtualBytes),
                copying: template)
        }
    }

    private func define(_ vm: VMInstance) async throws {
        if let existing = try await connection.domain(named: vm.name) {
            try await requireOwned(existing)
        }
        let pool = try await requirePool()
        guard let disk = try await pool.volume(named: vm.volume) else {
            throw HostError(host: name, object: "vm \(vm.name)", cause: "its disk \(vm.volume) is missing", transient: true)
        }
        let definition = DomainDefinition(
            name: vm.name, domainType: vm.domainType, vcpus: vm.resources.vcpus, memoryBytes: vm.resources.memory,
            cpuMode: DomainDefinition.CPUMode(rawValue: vm.resources.cpuMode.rawValue) ?? .default, diskPath: disk.path,
            diskFormat: "qcow2", network: network(vm.network),
            metadata: VMMetadata(set: vm.set, ordinal: vm.ordinal, specHash: vm.specHash,
                                 templateDigest: vm.template.digest, volume: vm.volume,
                                 vcpus: vm.resources.vcpus, memoryBytes: vm.resources.memory))
        _ = try await connection.defineDomain(xml: definition.xml())
    }

    private func network(_ network: Network) -> DomainDefinition.Network {
        switch network.type {
        case .network: .network(name: network.source ?? "default", model: network.model)
        case .bridge: .bridge(name: network.source ?? "", model: network.model)
        case .user: .user(model: network.model)
        }
    }

    private func ownedDomain(_ vm: String) async throws -> Domain? {
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

    private func start(_ vm: String) async throws {
        guard let domain = try await ownedDomain(vm) else {
            throw HostError(host: name, object: "vm \(vm)", cause: "is not defined", transient: true)
        }
        if try await domain.isActive() { return }
        try await domain.start()
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
        guard let domain = try await ownedDomain(vm) else { return }
        if try await domain.isActive() {
            do { try await domain.destroy() } catch let error as LibvirtError where error.isOperationInvalid {}
        }
        try await domain.undefine()
    }

    private func deleteVolume(_ volume: String) async throws {
        guard Naming.classify(volume: volume) == .disk else {
            throw HostError(host: name, object: "volume \(volume)", cause: "is not a Drove disk", transient: false)
        }
        try await requirePool().volume(named: volume)?.delete()
    }

    /// Deletes the marker first: a crash in between leaves an unmarked (partial) copy, which
    /// nothing uses and the next prune removes.
    private func deleteTemplate(digest: String, volume: String) async throws {
        let pool = try await requirePool()
        try await pool.volume(named: Naming.templateReadyMarker(digest: digest))?.delete()
        try await pool.volume(named: volume)?.delete()
    }
}

/// A host URI refused before any connection was tried.
public struct HostURIRefused: Error, Sendable, CustomStringConvertible {
    public let host: String
    public let uri: String
    public let refusal: HostURI.Refusal
    public var description: String { "Host/\(host): \"\(uri)\" \(refusal.message)" }
}
