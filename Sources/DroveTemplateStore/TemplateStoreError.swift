import Foundation

/// Why the template store refused or failed an upload, a read or a collection.
public enum TemplateStoreError: Error, Sendable, CustomStringConvertible {
    /// The upload passed its size limit; nothing of it is kept.
    case tooLarge(limit: UInt64)
    /// The bytes are not an image a template may be (see `ImageRefusal`); nothing is kept.
    case refused(ImageRefusal)
    /// qemu-img could not be run at all (not installed, not executable).
    case inspectorUnavailable(String)
    /// A system call on the store's own files failed.
    case io(call: String, path: String, errno: Int32)
    /// The upload was already finished or aborted.
    case uploadClosed

    public var description: String {
        switch self {
        case let .tooLarge(limit): "the image is larger than the limit of \(limit) bytes"
        case let .refused(refusal): "the image is refused: \(refusal)"
        case let .inspectorUnavailable(reason): "cannot inspect the image: \(reason)"
        case let .io(call, path, errno): "\(call) \(path): \(String(cString: strerror(errno)))"
        case .uploadClosed: "the upload was already finished or aborted"
        }
    }
}

/// What makes an image unfit to be a template: a template must stand alone, in a format
/// Drove names explicitly.
public enum ImageRefusal: Sendable, Equatable, CustomStringConvertible {
    /// A qcow2 image that reads its unallocated clusters from another file.
    case backingFile(String)
    /// A qcow2 image whose data lives in another file (`data_file`).
    case externalDataFile(String)
    case encrypted
    case formatMismatch(declared: BlobFormat, actual: BlobFormat)
    /// qemu-img could not read the image in its format (its own words).
    case unreadable(String)

    public var description: String {
        switch self {
        case let .backingFile(name):
            "it has a backing file (\(name)); a template must stand alone: flatten it first (qemu-img convert -O qcow2 IN OUT)"
        case let .externalDataFile(name):
            "it keeps its data in an external data file (\(name)); a template must stand alone: convert it into one file first"
        case .encrypted:
            "it is encrypted; a template must open without a secret"
        case let .formatMismatch(declared, actual):
            "the push declares \(declared.rawValue), but the file is \(actual == .qcow2 ? "a qcow2 image" : "not a qcow2 image (raw)"); push it with format=\(actual.rawValue)"
        case let .unreadable(reason):
            "qemu-img cannot read it: \(reason)"
        }
    }
}
