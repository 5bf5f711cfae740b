import CLibvirt
import Foundation

/// A storage volume on one connection. Owns its `virStorageVolPtr` and frees it exactly once.
public final class StorageVolume: LibvirtObject {
    public let name: String
    /// The volume's path on its host (for a `dir` pool, the image file).
    public let path: String
    let handle: CHandle
    let connection: Connection

    init(adopting volume: Adopted, connection: Connection) {
        handle = volume.handle
        self.connection = connection
        name = virStorageVolGetName(volume.handle.raw).map { String(cString: $0) } ?? ""
        path = volume.path
    }

    /// A volume handle libvirt gave us, with its path read on the lane: for a remote host
    /// `virStorageVolGetPath` is a call to the daemon, which must not run on Swift's threads.
    struct Adopted: Sendable {
        let handle: CHandle
        let path: String

        /// Call on the lane, right after libvirt returned `raw`.
        init(_ raw: OpaquePointer) {
            handle = CHandle(raw: raw)
            if let cPath = virStorageVolGetPath(raw) {
                path = String(cString: cPath)
                free(cPath)
            } else {
                virResetLastError()
                path = ""
            }
        }
    }

    deinit {
        virStorageVolFree(handle.raw)
    }

    var subject: String { "volume \(name)" }


    public func info() async throws -> VolumeInfo {
        let subject = self.subject
        return try await call { raw in
            var info = virStorageVolInfo()
            if virStorageVolGetInfo(raw, &info) < 0 { throw LibvirtError.last("virStorageVolGetInfo", object: subject) }
            return VolumeInfo(capacity: UInt64(info.capacity), allocation: UInt64(info.allocation))
        }
    }

    /// The volume's XML (`virStorageVolGetXMLDesc`): format, capacity, backing store.
    public func xml() async throws -> String {
        let subject = self.subject
        return try await call { raw in
            guard let xml = virStorageVolGetXMLDesc(raw, 0) else {
                throw LibvirtError.last("virStorageVolGetXMLDesc", object: subject)
            }
            defer { free(xml) }
            return String(cString: xml)
        }
    }

    /// Deletes the volume and its data (`virStorageVolDelete`).
    public func delete() async throws {
        let subject = self.subject
        try await call(mutating: "virStorageVolDelete") { raw in
            if virStorageVolDelete(raw, 0) < 0 { throw LibvirtError.last("virStorageVolDelete", object: subject) }
        }
    }
}

public struct VolumeInfo: Sendable, Equatable {
    /// Virtual size in bytes: what the guest sees.
    public let capacity: UInt64
    /// Bytes the volume really takes on the host.
    public let allocation: UInt64
}
