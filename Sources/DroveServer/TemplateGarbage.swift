import DroveManifest
import DroveStore
import DroveTemplateStore
import Logging
import ServiceLifecycle

/// Removes template blobs no stored Template names, at start and then every `interval`.
/// A Template being deleted still counts until it is pruned. A blob just pushed is pinned by
/// its upload until its Template is applied (see `BlobUpload.finish`), so it is never
/// collected in between.
public struct TemplateGarbageCollector: Service {
    let blobs: TemplateBlobStore
    let store: Store
    let interval: Duration
    let logger: Logger

    public init(blobs: TemplateBlobStore, store: Store, interval: Duration = .seconds(60), logger: Logger) {
        self.blobs = blobs
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let removed = try await collect()
                    if !removed.isEmpty {
                        logger.info("removed unreferenced template blobs", metadata: ["template.blobs": "\(removed.joined(separator: ","))"])
                    }
                } catch {
                    logger.warning("template garbage collection skipped", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// One collection; returns the digests removed.
    public func collect() async throws -> [String] {
        try await blobs.collectGarbage { try await referencedDigests() }
    }

    /// The blobs every stored Template names. A stored text that no longer loads stops the
    /// collection: better keep an unused blob than remove a used one.
    func referencedDigests() async throws -> Set<String> {
        var digests = Set<String>()
        for object in try await store.objects(kind: .template) {
            // Any policy: only the digest is wanted, whatever the server allows today.
            let result = ManifestLoader(policy: .anyConfiguration).check(sources: [
                ManifestSource(name: "store:\(object.reference)", text: object.manifestText, baseDirectory: object.baseDirectory),
            ])
            guard let template = result.manifest?.templates.first else {
                throw StoreError.storedManifestInvalid(path: "store:\(object.reference)", diagnostics: result.diagnostics)
            }
            if let digest = template.spec.source.blobDigest { digests.insert(digest) }
        }
        return digests
    }
}
