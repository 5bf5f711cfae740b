import Crypto
import DroveManifest
import DrovePlan
import Foundation
import NIOPosix

/// Reads each template's file: its size, its guest-visible size, and its content digest. The
/// declared format is checked against the file's header, never guessed from it.
public enum TemplateCatalog {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let template: String
        public let path: String
        public let cause: String
        public var description: String { "Template/\(template): \(path): \(cause)" }
    }

    /// Images by template name, and the templates that could not be read. `allowed` is checked
    /// again here, on the file's real path, because a symbolic link may have changed since the
    /// manifest was loaded.
    public static func read(_ templates: [Template], allowed: ManifestPolicy.FileRule = .anywhere) async -> (images: [String: TemplateImage], failures: [Failure]) {
        await withTaskGroup(of: Result<TemplateImage, Failure>.self) { group in
            for template in templates {
                // Hashing a large file blocks; it runs on NIO's thread pool, not Swift's.
                group.addTask {
                    (try? await NIOThreadPool.singleton.runIfActive { read(template, allowed: allowed) })
                        ?? .failure(Failure(template: template.metadata.name, path: template.spec.source.resolvedPath,
                                            cause: "the thread pool is shutting down"))
                }
            }
            var images: [String: TemplateImage] = [:]
            var failures: [Failure] = []
            for await result in group {
                switch result {
                case let .success(image): images[image.name] = image
                case let .failure(failure): failures.append(failure)
                }
            }
            return (images, failures.sorted { $0.template < $1.template })
        }
    }

    static func read(_ template: Template, allowed: ManifestPolicy.FileRule) -> Result<TemplateImage, Failure> {
        let name = template.metadata.name
        let declared = template.spec.source.resolvedPath
        func fail(_ cause: String) -> Result<TemplateImage, Failure> { .failure(Failure(template: name, path: declared, cause: cause)) }

        // The file itself, links resolved: what is checked is what is read and later uploaded.
        // A blob is the controller's own file in its template store, whatever `allowed` says.
        let blob = template.spec.source.blobDigest
        let path = URL(fileURLWithPath: declared).resolvingSymlinksInPath().path
        guard blob != nil || ManifestPolicy.allows(allowed, path: path) else {
            return fail("\(path) is outside the directories template files may lie in (\(allowed))")
        }
        guard let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType else {
            return fail("cannot open the file (does it exist?)")
        }
        guard type == .typeRegular else { return fail("not a regular file (a template must be a disk image file, not a device, FIFO or directory)") }
        guard let handle = FileHandle(forReadingAtPath: path) else { return fail("cannot open the file (is it readable?)") }
        defer { try? handle.close() }
        do {
            let fileBytes = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
            let header = try handle.read(upToCount: 512) ?? Data()
            let virtualBytes: UInt64
            switch template.spec.format {
            case .qcow2:
                guard let size = QCOW2.virtualSize(header: header) else {
                    return fail("declared format qcow2, but the file has no qcow2 header")
                }
                virtualBytes = size
            case .raw:
                if QCOW2.virtualSize(header: header) != nil {
                    return fail("declared format raw, but the file is a qcow2 image")
                }
                virtualBytes = fileBytes
            }
            // A blob's name is its content's digest, checked when it was stored.
            let digest: String
            if let blob {
                digest = String(blob.dropFirst("sha256:".count))
            } else {
                try handle.seek(toOffset: 0)
                digest = try sha256(handle)
            }
            return .success(TemplateImage(name: name, digest: digest, format: template.spec.format.rawValue, path: path,
                                          fileBytes: fileBytes, virtualBytes: virtualBytes))
        } catch {
            return fail(String(describing: error))
        }
    }

    /// The SHA-256 of the file's content, as hex: a template copy's name on every host.
    static func sha256(_ handle: FileHandle) throws -> String {
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// The few bytes of the qcow2 header Drove reads.
enum QCOW2 {
    /// The image's virtual size, or nil if `header` is not a qcow2 header.
    static func virtualSize(header: Data) -> UInt64? {
        let bytes = [UInt8](header.prefix(32))
        guard bytes.count == 32, bytes[0..<4] == [0x51, 0x46, 0x49, 0xfb] else { return nil }
        return bytes[24..<32].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}
