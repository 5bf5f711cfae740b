import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An image kept in the store, named by the SHA-256 of its bytes.
public struct StoredBlob: Sendable, Hashable {
    /// `sha256:<64 hex digits>`.
    public var digest: String
    public var size: UInt64
    public var path: String
    public var format: BlobFormat
    public var virtualSize: UInt64
}

/// Template images on the controller's disk, content-addressed: `<directory>/sha256/<hex>`
/// holds the image whose SHA-256 is `<hex>`, written once and never changed; uploads in
/// progress live in `<directory>/incoming/` and are moved there only once complete and
/// inspected. Opening the store empties `incoming/`: what a crash cut off is never used.
public final class TemplateBlobStore: Sendable {
    public let directory: String
    let blobs: String
    let incoming: String
    private let logger: Logger

    /// Pins protect blobs between being stored and being referred to. A collection protects
    /// every digest pinned when it starts or at any time while it runs, so a blob whose
    /// Template was recorded after the collection read the references is never removed.
    private struct Pins {
        var counts: [String: Int] = [:]
        /// Nil when no collection runs.
        var protected: Set<String>?
    }

    private let pins = Mutex(Pins())

    /// Opens (creating if needed) the store in `directory`, emptying `incoming/`.
    public init(directory: String, logger: Logger) throws(TemplateStoreError) {
        self.directory = directory
        blobs = directory + "/sha256"
        incoming = directory + "/incoming"
        self.logger = logger
        for path in [directory, blobs, incoming] {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw .io(call: "mkdir", path: path, errno: EIO)
            }
        }
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: incoming)) ?? []
        for name in leftovers { unlink(incoming + "/" + name) }
        if !leftovers.isEmpty {
            logger.info("removed uploads cut off by a restart", metadata: ["template.store": "\(directory)", "template.uploads": "\(leftovers.count)"])
        }
    }

    /// Starts receiving an image declared to be in `format`, of at most `limit` bytes.
    public func beginUpload(format: BlobFormat, limit: UInt64) throws(TemplateStoreError) -> BlobUpload {
        try BlobUpload(store: self, path: incoming + "/" + UUID().uuidString.lowercased(), format: format, limit: limit)
    }

    /// The file of a stored blob, or nil if `digest` is not `sha256:<64 hex>` or not stored.
    public func path(of digest: String) -> String? {
        guard let hex = Self.hex(digest), FileManager.default.fileExists(atPath: blobs + "/" + hex) else { return nil }
        return blobs + "/" + hex
    }

    /// Removes every blob whose digest is not in what `referenced` returns (digests written
    /// `sha256:<hex>`), except those pinned by an upload finishing meanwhile; returns the
    /// digests removed. `referenced` is called after the collection starts protecting pins.
    /// One collection at a time: a second one started meanwhile removes nothing.
    public func collectGarbage(keeping referenced: () async throws -> Set<String>) async throws -> [String] {
        let started = pins.withLock { pins in
            guard pins.protected == nil else { return false }
            pins.protected = Set(pins.counts.keys)
            return true
        }
        guard started else { return [] }
        defer { pins.withLock { $0.protected = nil } }
        let keep = try await referenced()
        return await blocking { [self] in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: blobs)) ?? []
            return names.sorted().compactMap { hex -> String? in
                let digest = "sha256:" + hex
                guard Self.hex(digest) != nil, !keep.contains(digest) else { return nil }
                let removed = pins.withLock { pins in
                    !(pins.protected?.contains(hex) ?? false) && unlink(blobs + "/" + hex) == 0
                }
                return removed ? digest : nil
            }
        }
    }

    // MARK: - For uploads

    /// Moves a finished, inspected upload to its digest's name (or drops it when those bytes
    /// are stored already) and pins the digest; `unpin` when done.
    func place(_ temporary: String, hex: String, size: UInt64, facts: ImageFacts) async throws(TemplateStoreError) -> StoredBlob {
        let target = blobs + "/" + hex
        let failure: TemplateStoreError? = await blocking { [self] in
            // Pin and place under one lock, so a collection removes the blob before or not at all.
            let failure = pins.withLock { pins -> TemplateStoreError? in
                pins.counts[hex, default: 0] += 1
                pins.protected?.insert(hex)
                if access(target, F_OK) == 0 {
                    unlink(temporary)
                    return nil
                }
                guard chmod(temporary, 0o444) == 0, rename(temporary, target) == 0 else {
                    let error = TemplateStoreError.io(call: "rename", path: target, errno: errno)
                    unlink(temporary)
                    pins.counts[hex, default: 1] -= 1
                    if pins.counts[hex] == 0 { pins.counts[hex] = nil }
                    return error
                }
                return nil
            }
            syncDirectory(blobs)
            return failure
        }
        if let failure { throw failure }
        return StoredBlob(digest: "sha256:" + hex, size: size, path: target, format: facts.format, virtualSize: facts.virtualSize)
    }

    func unpin(_ hex: String) {
        pins.withLock { pins in
            pins.counts[hex, default: 1] -= 1
            if pins.counts[hex] == 0 { pins.counts[hex] = nil }
        }
    }

    /// Makes a rename in `path` durable.
    private func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// The hex of `sha256:<64 lowercase hex digits>`, or nil for anything else.
    public static func hex(_ digest: String) -> String? {
        guard digest.hasPrefix("sha256:") else { return nil }
        let hex = digest.dropFirst(7)
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return String(hex)
    }
}

/// Runs blocking file work on a Dispatch thread, never on Swift's cooperative pool.
func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}
