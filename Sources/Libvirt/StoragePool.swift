import CLibvirt
import Foundation

/// A storage pool on one connection. Owns its `virStoragePoolPtr` and frees it exactly once.
public final class StoragePool: LibvirtObject {
    public let name: String
    let handle: CHandle
    let connection: Connection

    init(adopting raw: OpaquePointer, connection: Connection) {
        handle = CHandle(raw: raw)
        self.connection = connection
        name = virStoragePoolGetName(raw).map { String(cString: $0) } ?? ""
    }

    deinit {
        virStoragePoolFree(handle.raw)
    }

    var subject: String { "pool \(name)" }



    /// Rescans the pool's target for volumes made behind libvirt's back. A refresh takes the
    /// pool's lock and fails while volumes are being built ("pool has asynchronous jobs
    /// running"), so call it only when something outside libvirt changed the pool.
    public func refresh() async throws {
        try await check("virStoragePoolRefresh", mutating: true) { virStoragePoolRefresh($0, 0) }
    }

    public func info() async throws -> PoolInfo {
        let subject = self.subject
        return try await call { raw in
            var info = virStoragePoolInfo()
            if virStoragePoolGetInfo(raw, &info) < 0 { throw LibvirtError.last("virStoragePoolGetInfo", object: subject) }
            return PoolInfo(isRunning: info.state == Int32(VIR_STORAGE_POOL_RUNNING.rawValue),
                            capacity: UInt64(info.capacity), allocation: UInt64(info.allocation),
                            available: UInt64(info.available))
        }
    }

    public func xml() async throws -> String {
        let subject = self.subject
        return try await call { raw in
            guard let xml = virStoragePoolGetXMLDesc(raw, 0) else {
                throw LibvirtError.last("virStoragePoolGetXMLDesc", object: subject)
            }
            defer { free(xml) }
            return String(cString: xml)
        }
    }

    /// Every volume in the pool (`virStoragePoolListAllVolumes`).
    public func listAllVolumes() async throws -> [StorageVolume] {
        let subject = self.subject
        let volumes: [StorageVolume.Adopted] = try await call { raw in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = virStoragePoolListAllVolumes(raw, &list, 0)
            if count < 0 { throw LibvirtError.last("virStoragePoolListAllVolumes", object: subject) }
            defer { free(list) }
            return (0..<Int(count)).compactMap { index in list?[index].map(StorageVolume.Adopted.init) }
        }
        return volumes.map { StorageVolume(adopting: $0, connection: connection) }
    }

    /// The names of the pool's volumes, in one call (no per-volume lookups).
    public func volumeNames() async throws -> [String] {
        let subject = self.subject
        return try await call { raw in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = virStoragePoolListAllVolumes(raw, &list, 0)
            if count < 0 { throw LibvirtError.last("virStoragePoolListAllVolumes", object: subject) }
            defer { free(list) }
            return (0..<Int(count)).compactMap { index -> String? in
                guard let volume = list?[index] else { return nil }
                defer { virStorageVolFree(volume) }
                return virStorageVolGetName(volume).map { String(cString: $0) }
            }
        }
    }

    /// The volume called `name`, or nil if the pool has none.
    public func volume(named name: String) async throws -> StorageVolume? {
        let volume: StorageVolume.Adopted? = try await call { raw in
            guard let volume = virStorageVolLookupByName(raw, name) else {
                let error = LibvirtError.last("virStorageVolLookupByName", object: "volume \(name)")
                if error.isNoStorageVolume { return nil }
                throw error
            }
            return StorageVolume.Adopted(volume)
        }
        return volume.map { StorageVolume(adopting: $0, connection: connection) }
    }

    /// Creates a volume from XML (`virStorageVolCreateXML`): an empty image, or a qcow2 overlay
    /// when the XML has a `<backingStore>` (which must name the backing format).
    public func createVolume(xml: String) async throws -> StorageVolume {
        let subject = self.subject
        let volume: StorageVolume.Adopted = try await call(mutating: "virStorageVolCreateXML") { raw in
            guard let volume = virStorageVolCreateXML(raw, xml, 0) else {
                throw LibvirtError.last("virStorageVolCreateXML", object: subject)
            }
            return StorageVolume.Adopted(volume)
        }
        return StorageVolume(adopting: volume, connection: connection)
    }

    /// Creates a volume as a copy of `source` (`virStorageVolCreateXMLFrom`); the XML names
    /// the new volume and may change its format. With `reflink`, a copy-on-write clone that
    /// shares the source's blocks is tried first (`VIR_STORAGE_VOL_CREATE_REFLINK`: on btrfs,
    /// XFS with reflink, …); where the file system cannot (ext4), libvirt refuses it and
    /// nothing is left behind, so a full copy is made instead.
    public func createVolume(xml: String, copying source: StorageVolume, reflink: Bool = false) async throws -> StorageVolume {
        let subject = self.subject
        let sourceHandle = source.handle
        let volume: StorageVolume.Adopted = try await call(mutating: "virStorageVolCreateXMLFrom") { raw in
            if reflink, let volume = virStorageVolCreateXMLFrom(raw, xml, sourceHandle.raw, VIR_STORAGE_VOL_CREATE_REFLINK.rawValue) {
                return StorageVolume.Adopted(volume)
            }
            virResetLastError()
            guard let volume = virStorageVolCreateXMLFrom(raw, xml, sourceHandle.raw, 0) else {
                throw LibvirtError.last("virStorageVolCreateXMLFrom", object: subject)
            }
            return StorageVolume.Adopted(volume)
        }
        return StorageVolume(adopting: volume, connection: connection)
    }

    // MARK: Pool lifecycle (used to set up lab hosts)

    /// Builds the pool's target (for a `dir` pool: makes the directory).
    public func build() async throws {
        try await check("virStoragePoolBuild", mutating: true) { virStoragePoolBuild($0, 0) }
    }

    /// Starts (activates) the pool.
    public func start() async throws {
        try await check("virStoragePoolCreate", mutating: true) { virStoragePoolCreate($0, 0) }
    }

    public func setAutostart(_ on: Bool) async throws {
        try await check("virStoragePoolSetAutostart", mutating: true) { virStoragePoolSetAutostart($0, on ? 1 : 0) }
    }

    /// Stops the pool; its volumes stay on disk.
    public func stop() async throws {
        try await check("virStoragePoolDestroy", mutating: true) { virStoragePoolDestroy($0) }
    }

    public func undefine() async throws {
        try await check("virStoragePoolUndefine", mutating: true) { virStoragePoolUndefine($0) }
    }
}

public struct PoolInfo: Sendable, Equatable {
    public let isRunning: Bool
    public let capacity: UInt64
    public let allocation: UInt64
    public let available: UInt64
}

extension Connection {
    /// The pool called `name`, or nil if the host has none.
    public func storagePool(named name: String) async throws -> StoragePool? {
        let handle: CHandle? = try await call { conn in
            guard let raw = virStoragePoolLookupByName(conn, name) else {
                let error = LibvirtError.last("virStoragePoolLookupByName", object: "pool \(name)")
                if error.isNoStoragePool { return nil }
                throw error
            }
            return CHandle(raw: raw)
        }
        return handle.map { StoragePool(adopting: $0.raw, connection: self) }
    }

    /// Defines a persistent pool from XML (`virStoragePoolDefineXML`); it still needs `start()`.
    public func defineStoragePool(xml: String) async throws -> StoragePool {
        let handle: CHandle = try await call(mutating: "virStoragePoolDefineXML") { conn in
            guard let raw = virStoragePoolDefineXML(conn, xml, 0) else {
                throw LibvirtError.last("virStoragePoolDefineXML")
            }
            return CHandle(raw: raw)
        }
        return StoragePool(adopting: handle.raw, connection: self)
    }

    public func listAllStoragePools() async throws -> [StoragePool] {
        let handles: [CHandle] = try await call { conn in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = virConnectListAllStoragePools(conn, &list, 0)
            if count < 0 { throw LibvirtError.last("virConnectListAllStoragePools") }
            defer { free(list) }
            return (0..<Int(count)).compactMap { index in list?[index].map(CHandle.init) }
        }
        return handles.map { StoragePool(adopting: $0.raw, connection: self) }
    }
}
