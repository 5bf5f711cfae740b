import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One image being received into the store: its bytes go to a file of its own in `incoming/`,
/// hashed as they arrive. `finish` inspects it and moves it to its digest's name; `abort`, a
/// failed write or a failed inspection removes it, so a cut-off upload leaves nothing.
///
/// Calls are made one at a time by the one task that receives the image.
public final class BlobUpload: @unchecked Sendable {
    private enum State {
        case open(fd: Int32)
        case closed
    }

    public let format: BlobFormat
    /// Bytes past this are refused.
    public let limit: UInt64
    /// The temporary file, in the store's `incoming/`.
    let path: String
    private let store: TemplateBlobStore
    // `state`, `hasher` and `size` are touched only on `queue`, a serial queue that also keeps
    // the blocking writes, fsync and qemu-img off Swift's cooperative threads.
    private let queue = DispatchQueue(label: "drove.template-upload")
    private var state: State
    private var hasher = SHA256()
    private var size: UInt64 = 0

    init(store: TemplateBlobStore, path: String, format: BlobFormat, limit: UInt64) throws(TemplateStoreError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(call: "open", path: path, errno: errno) }
        self.store = store
        self.path = path
        self.format = format
        self.limit = limit
        state = .open(fd: fd)
    }

    deinit {
        // An upload dropped without finish or abort (a task torn down) still leaves nothing.
        if case let .open(fd) = state {
            close(fd)
            unlink(path)
        }
    }

    /// Appends `chunk`. Past the limit, or on a write error, the upload is aborted and throws.
    public func write(_ chunk: Data) async throws(TemplateStoreError) {
        try await onQueue { [self] () throws(TemplateStoreError) in
            guard case let .open(fd) = state else { throw .uploadClosed }
            guard size + UInt64(chunk.count) <= limit else {
                discard()
                throw .tooLarge(limit: limit)
            }
            do throws(TemplateStoreError) {
                try Self.writeAll(chunk, to: fd, path: path)
            } catch {
                discard()
                throw error
            }
            hasher.update(data: chunk)
            size += UInt64(chunk.count)
        }
    }

    /// Makes the bytes durable, inspects them, and stores them under their digest (the same
    /// bytes stored before: this copy is dropped). The blob is pinned against garbage
    /// collection while `body` runs, so that whatever comes to refer to it (a Template) can be
    /// recorded before a collection could see it unreferenced.
    ///
    /// - Throws: `.refused` for an image a template may not be (nothing is kept), or what
    ///   `body` throws (the blob stays, unpinned, until a collection finds it unreferenced).
    public func finish<T: Sendable>(whilePinned body: (StoredBlob) async throws -> T) async throws -> T {
        let (hex, facts) = try await onQueue { [self] () throws(TemplateStoreError) -> (String, ImageFacts) in
            guard case let .open(fd) = state else { throw .uploadClosed }
            guard fsync(fd) == 0 else {
                let code = errno
                discard()
                throw .io(call: "fsync", path: path, errno: code)
            }
            close(fd)
            state = .closed
            do throws(TemplateStoreError) {
                guard size > 0 else { throw TemplateStoreError.refused(.unreadable("the file is empty")) }
                let facts = try ImageInspector.inspect(path, declared: format)
                return (hasher.finalize().map { String(format: "%02x", $0) }.joined(), facts)
            } catch {
                unlink(path)
                throw error
            }
        }
        let blob = try await store.place(path, hex: hex, size: size, facts: facts)
        defer { store.unpin(hex) }
        return try await body(blob)
    }

    /// Removes what was received. Safe to call at any time, also after `finish`.
    public func abort() async {
        _ = try? await onQueue { [self] () throws(TemplateStoreError) in discard() }
    }

    /// On `queue`: closes and removes the temporary file.
    private func discard() {
        if case let .open(fd) = state {
            close(fd)
            unlink(path)
        }
        state = .closed
    }

    private static func writeAll(_ chunk: Data, to fd: Int32, path: String) throws(TemplateStoreError) {
        let failure: Int32? = chunk.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
        if let failure { throw .io(call: "write", path: path, errno: failure) }
    }

    private func onQueue<T: Sendable>(_ work: @escaping @Sendable () throws(TemplateStoreError) -> T) async throws(TemplateStoreError) -> T {
        let result: Result<T, TemplateStoreError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(TemplateStoreError) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
