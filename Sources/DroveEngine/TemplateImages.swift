import DroveManifest
import DrovePlan
import Foundation
import Synchronization

/// Template image facts, hashed once per file version: a template's digest is recomputed only
/// when its file's path, size or modification time changes, not on every pass or run.
public final class TemplateImages: Sendable {
    private struct Key: Hashable {
        var path: String
        var format: DiskFormat
        var size: UInt64
        var modified: Date
    }

    private let cache = Mutex([Key: TemplateImage]())
    /// Where template files may lie (checked again on every read; see `TemplateCatalog`).
    public let allowed: ManifestPolicy.FileRule

    public init(allowed: ManifestPolicy.FileRule = .anywhere) {
        self.allowed = allowed
    }

    /// Images by template name, and the templates whose file could not be read.
    public func images(for templates: [Template]) async -> (images: [String: TemplateImage], failures: [TemplateCatalog.Failure]) {
        var images: [String: TemplateImage] = [:]
        var unread: [Template] = []
        var keys: [String: Key] = [:]
        for template in templates {
            let path = template.spec.source.resolvedPath
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  let size = attributes[.size] as? UInt64, let modified = attributes[.modificationDate] as? Date else {
                unread.append(template)
                continue
            }
            let key = Key(path: path, format: template.spec.format, size: size, modified: modified)
            keys[template.metadata.name] = key
            if var image = cache.withLock({ $0[key] }) {
                image.name = template.metadata.name
                images[template.metadata.name] = image
            } else {
                unread.append(template)
            }
        }
        let read = await TemplateCatalog.read(unread, allowed: allowed)
        for (name, image) in read.images {
            images[name] = image
            if let key = keys[name] { cache.withLock { $0[key] = image } }
        }
        return (images, read.failures)
    }
}
