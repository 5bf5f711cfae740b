import CLibvirt
import Foundation

/// How much of a file went over a stream: data bytes sent and holes skipped.
public struct TransferStats: Sendable, Equatable {
    /// Bytes of data that crossed the stream.
    public var dataBytes: UInt64 = 0
    /// Bytes that were holes (or all zero) and crossed as a hole marker only.
    public var holeBytes: UInt64 = 0
    /// The file's whole length: data plus holes.
    public var totalBytes: UInt64 { dataBytes + holeBytes }

    public init(dataBytes: UInt64 = 0, holeBytes: UInt64 = 0) {
        self.dataBytes = dataBytes
        self.holeBytes = holeBytes
    }
}

/// Called on the transfer's thread as a transfer advances.
public typealias TransferProgress = @Sendable (TransferStats) -> Void

extension StorageVolume {
    /// Uploads a local file into the volume through a libvirt stream (`virStorageVolUpload`),
    /// sparse-aware: holes in the file, and chunks that are all zero, are sent as hole markers,
    /// not as data. The volume must be at least as large as the file.
    ///
    /// The whole transfer runs on one thread of the connection's lane.
    @discardableResult
    public func upload(from file: String, progress: TransferProgress? = nil) async throws -> TransferStats {
        let subject = self.subject
        let connection = connection.handle
        return try await call(mutating: "virStorageVolUpload") { raw in
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw TransferError.file(file, errno) }
            defer { close(fd) }
            let size = UInt64(lseek(fd, 0, SEEK_END))

            guard let stream = virStreamNew(connection.raw, 0) else { throw LibvirtError.last("virStreamNew", object: subject) }
            defer { virStreamFree(stream) }
            if virStorageVolUpload(raw, stream, 0, size, VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM.rawValue) < 0 {
                throw LibvirtError.last("virStorageVolUpload", object: subject)
            }
            do {
                var stats = TransferStats()
                try sendSparse(fd: fd, size: size, stream: stream, stats: &stats, progress: progress, subject: subject)
                if virStreamFinish(stream) < 0 { throw LibvirtError.last("virStreamFinish", object: subject) }
                return stats
            } catch {
                virStreamAbort(stream)
                virResetLastError()
                throw error
            }
        }
    }

    /// Downloads the volume into a local file through a libvirt stream (`virStorageVolDownload`),
    /// sparse-aware: holes arrive as hole markers and stay holes in the file.
    @discardableResult
    public func download(to file: String, progress: TransferProgress? = nil) async throws -> TransferStats {
        let subject = self.subject
        let connection = connection.handle
        return try await call { raw in
            let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw TransferError.file(file, errno) }
            defer { close(fd) }

            guard let stream = virStreamNew(connection.raw, 0) else { throw LibvirtError.last("virStreamNew", object: subject) }
            defer { virStreamFree(stream) }
            if virStorageVolDownload(raw, stream, 0, 0, VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM.rawValue) < 0 {
                throw LibvirtError.last("virStorageVolDownload", object: subject)
            }
            do {
                let stats = try receiveSparse(fd: fd, file: file, stream: stream, progress: progress, subject: subject)
                if virStreamFinish(stream) < 0 { throw LibvirtError.last("virStreamFinish", object: subject) }
                return stats
            } catch {
                virStreamAbort(stream)
                virResetLastError()
                throw error
            }
        }
    }
}

extension StorageVolume {
    /// Reads `length` bytes of the volume from `offset` (0: to its end) through a libvirt
    /// stream (`virStorageVolDownload`), for small volumes such as a console log. Fewer bytes
    /// come back when the volume ends first; none when `offset` is at or past its end.
    public func download(offset: UInt64, length: UInt64 = 0) async throws -> [UInt8] {
        let subject = self.subject
        let connection = connection.handle
        return try await call { raw in
            guard let stream = virStreamNew(connection.raw, 0) else { throw LibvirtError.last("virStreamNew", object: subject) }
            defer { virStreamFree(stream) }
            if virStorageVolDownload(raw, stream, offset, length, 0) < 0 {
                throw LibvirtError.last("virStorageVolDownload", object: subject)
            }
            do {
                var bytes: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 64 << 10)
                while true {
                    let received = buffer.withUnsafeMutableBytes { chunk in
                        virStreamRecv(stream, chunk.baseAddress!.assumingMemoryBound(to: CChar.self), chunk.count)
                    }
                    if received == 0 { break }
                    if received < 0 { throw LibvirtError.last("virStreamRecv", object: subject) }
                    bytes += buffer.prefix(Int(received))
                }
                if virStreamFinish(stream) < 0 { throw LibvirtError.last("virStreamFinish", object: subject) }
                return bytes
            } catch {
                virStreamAbort(stream)
                virResetLastError()
                throw error
            }
        }
    }
}

extension StorageVolume {
    /// Writes `bytes` into the volume at `offset` through a libvirt stream
    /// (`virStorageVolUpload` with that offset and length), leaving the rest of the volume as
    /// it is: for small changes to a large volume, such as a save image's header.
    public func upload(bytes: [UInt8], at offset: UInt64) async throws {
        let subject = self.subject
        let connection = connection.handle
        try await call(mutating: "virStorageVolUpload") { raw in
            guard let stream = virStreamNew(connection.raw, 0) else { throw LibvirtError.last("virStreamNew", object: subject) }
            defer { virStreamFree(stream) }
            if virStorageVolUpload(raw, stream, offset, UInt64(bytes.count), 0) < 0 {
                throw LibvirtError.last("virStorageVolUpload", object: subject)
            }
            do {
                try bytes.withUnsafeBytes { chunk in
                    var sent = 0
                    while sent < chunk.count {
                        let base = chunk.baseAddress!.advanced(by: sent).assumingMemoryBound(to: CChar.self)
                        let n = virStreamSend(stream, base, chunk.count - sent)
                        if n < 0 { throw LibvirtError.last("virStreamSend", object: subject) }
                        sent += Int(n)
                    }
                }
                if virStreamFinish(stream) < 0 { throw LibvirtError.last("virStreamFinish", object: subject) }
            } catch {
                virStreamAbort(stream)
                virResetLastError()
                throw error
            }
        }
    }
}

/// A local file could not be read or written during a transfer.
public enum TransferError: Error, CustomStringConvertible {
    case file(String, Int32)

    public var description: String {
        switch self {
        case let .file(path, code): "\(path): \(String(cString: strerror(code)))"
        }
    }
}

private let chunkSize = 1 << 20

// Linux's lseek whences for sparse files; Glibc only exports them under _GNU_SOURCE.
private let seekData: Int32 = 3
private let seekHole: Int32 = 4

/// Walks the file's data and holes with SEEK_DATA/SEEK_HOLE and sends each: data in chunks
/// (all-zero chunks as holes), holes as hole markers.
private func sendSparse(fd: Int32, size: UInt64, stream: OpaquePointer, stats: inout TransferStats,
                        progress: TransferProgress?, subject: String) throws {
    var buffer = [UInt8](repeating: 0, count: chunkSize)
    var offset: UInt64 = 0
    var pendingHole: UInt64 = 0

    func flushHole() throws {
        guard pendingHole > 0 else { return }
        if virStreamSendHole(stream, Int64(pendingHole), 0) < 0 { throw LibvirtError.last("virStreamSendHole", object: subject) }
        stats.holeBytes += pendingHole
        pendingHole = 0
    }

    while offset < size {
        var dataStart = lseek(fd, off_t(offset), seekData)
        if dataStart < 0 { dataStart = off_t(size) } // ENXIO: only a hole is left
        pendingHole += UInt64(dataStart) - offset
        offset = UInt64(dataStart)
        guard offset < size else { break }
        let dataEnd = UInt64(lseek(fd, off_t(offset), seekHole))

        while offset < dataEnd {
            let want = Int(min(UInt64(chunkSize), dataEnd - offset))
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
            guard got > 0 else { throw TransferError.file("fd \(fd)", got < 0 ? errno : EIO) }
            if isAllZero(buffer, count: got) {
                pendingHole += UInt64(got)
            } else {
                try flushHole()
                try buffer.withUnsafeBytes { bytes in
                    var sent = 0
                    while sent < got {
                        let base = bytes.baseAddress!.advanced(by: sent).assumingMemoryBound(to: CChar.self)
                        let n = virStreamSend(stream, base, got - sent)
                        if n < 0 { throw LibvirtError.last("virStreamSend", object: subject) }
                        sent += Int(n)
                    }
                }
                stats.dataBytes += UInt64(got)
            }
            offset += UInt64(got)
            progress?(TransferStats(dataBytes: stats.dataBytes, holeBytes: stats.holeBytes + pendingHole))
        }
    }
    try flushHole()
    progress?(stats)
}

/// Receives data and hole markers, writing data and seeking over holes, then sets the file's
/// length so a trailing hole is kept.
private func receiveSparse(fd: Int32, file: String, stream: OpaquePointer, progress: TransferProgress?,
                           subject: String) throws -> TransferStats {
    var stats = TransferStats()
    var buffer = [UInt8](repeating: 0, count: chunkSize)
    var offset: UInt64 = 0
    while true {
        let received = buffer.withUnsafeMutableBytes { bytes in
            virStreamRecvFlags(stream, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), chunkSize,
                               VIR_STREAM_RECV_STOP_AT_HOLE.rawValue)
        }
        if received == 0 { break }
        if received == -3 {
            var length: Int64 = 0
            if virStreamRecvHole(stream, &length, 0) < 0 { throw LibvirtError.last("virStreamRecvHole", object: subject) }
            offset += UInt64(length)
            stats.holeBytes += UInt64(length)
        } else if received < 0 {
            throw LibvirtError.last("virStreamRecvFlags", object: subject)
        } else {
            let wrote = buffer.withUnsafeBytes { pwrite(fd, $0.baseAddress, Int(received), off_t(offset)) }
            guard wrote == Int(received) else { throw TransferError.file(file, wrote < 0 ? errno : EIO) }
            offset += UInt64(received)
            stats.dataBytes += UInt64(received)
        }
        progress?(stats)
    }
    guard ftruncate(fd, off_t(offset)) == 0 else { throw TransferError.file(file, errno) }
    return stats
}

/// Whether the first `count` bytes are zero, a word at a time.
private func isAllZero(_ buffer: [UInt8], count: Int) -> Bool {
    buffer.withUnsafeBytes { bytes in
        let words = count / 8
        let wordPointer = bytes.baseAddress!.assumingMemoryBound(to: UInt64.self)
        for index in 0..<words where wordPointer[index] != 0 { return false }
        for index in (words * 8)..<count where bytes[index] != 0 { return false }
        return true
    }
}
