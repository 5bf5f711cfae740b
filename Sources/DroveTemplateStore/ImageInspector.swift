import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The disk formats a template may have.
public enum BlobFormat: String, Sendable, Hashable, CaseIterable, Codable {
    case qcow2
    case raw
}

/// What inspection found out about an accepted image.
public struct ImageFacts: Sendable, Hashable {
    public var format: BlobFormat
    /// The size of the disk the guest sees.
    public var virtualSize: UInt64
}

/// Decides whether a file may be a template, in two steps: Drove reads the qcow2 header
/// itself (format, backing file, external data file, encryption), and only an image that
/// passes is given to `qemu-img info`, with its format named (`-f`, so qemu never probes
/// and never reads a raw image as something else) and no `--backing-chain`.
///
/// Blocking: it reads the file and waits for qemu-img. Call it off Swift's cooperative pool.
enum ImageInspector {
    static let qemuImg = "/usr/bin/qemu-img"
    static let timeout: TimeInterval = 60

    static func inspect(_ path: String, declared: BlobFormat) throws(TemplateStoreError) -> ImageFacts {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .io(call: "open", path: path, errno: errno) }
        defer { try? handle.close() }
        let header: QCOW2Header?
        do {
            header = try QCOW2Header.read(handle)
        } catch {
            throw .io(call: "read", path: path, errno: EIO)
        }
        let actual: BlobFormat = header == nil ? .raw : .qcow2
        guard actual == declared else { throw .refused(.formatMismatch(declared: declared, actual: actual)) }
        if let header {
            if let name = header.backingFile { throw .refused(.backingFile(name)) }
            if let name = header.externalDataFile { throw .refused(.externalDataFile(name)) }
            if header.encrypted { throw .refused(.encrypted) }
        }
        return try qemuImgInfo(path, format: declared)
    }

    /// `qemu-img info` agrees: the same checks on its own reading of the image.
    private static func qemuImgInfo(_ path: String, format: BlobFormat) throws(TemplateStoreError) -> ImageFacts {
        let output = try run(["info", "--output=json", "-U", "-f", format.rawValue, path])
        guard let info = (try? JSONSerialization.jsonObject(with: output)) as? [String: Any] else {
            throw .refused(.unreadable("qemu-img info gave no JSON"))
        }
        if let name = (info["full-backing-filename"] ?? info["backing-filename"]) as? String { throw .refused(.backingFile(name)) }
        let specific = (info["format-specific"] as? [String: Any])?["data"] as? [String: Any]
        if let name = specific?["data-file"] as? String { throw .refused(.externalDataFile(name)) }
        if info["encrypted"] as? Bool == true { throw .refused(.encrypted) }
        guard info["format"] as? String == format.rawValue, let size = (info["virtual-size"] as? NSNumber)?.uint64Value else {
            throw .refused(.unreadable("qemu-img info reports no \(format.rawValue) image with a virtual size"))
        }
        return ImageFacts(format: format, virtualSize: size)
    }

    /// Runs qemu-img with a fixed environment and returns its standard output; a non-zero exit
    /// is the image's fault (qemu-img's message says why); past the time limit it is killed.
    private static func run(_ arguments: [String]) throws(TemplateStoreError) -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemuImg)
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin", "LC_ALL": "C"]
        process.standardInput = FileHandle.nullDevice
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw .inspectorUnavailable("\(qemuImg): \(error.localizedDescription) (scripts/install-deps.sh installs qemu-utils)")
        }
        let killer = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        // Both pipes read at once, so neither can fill up and stall qemu-img.
        let stderr = Drained(errors.fileHandleForReading)
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        let message = String(decoding: stderr.wait().prefix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if process.terminationReason == .uncaughtSignal {
            throw .refused(.unreadable("qemu-img info did not finish within \(Int(timeout)) s"))
        }
        guard process.terminationStatus == 0 else {
            throw .refused(.unreadable(message.isEmpty ? "qemu-img info exited with status \(process.terminationStatus)" : message))
        }
        return stdout.prefix(1 << 20)
    }
}

/// A pipe read to its end on a thread of its own.
private final class Drained: @unchecked Sendable {
    // Written once by the reading thread before `done` is signalled, read after waiting on it.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        DispatchQueue.global().async { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
