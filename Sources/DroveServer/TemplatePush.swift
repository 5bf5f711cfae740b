import DroveAPI
import DroveManifest
import DroveTemplateStore
import Foundation
import Hummingbird

/// `PUT /api/v1/templates/{name}/image?format=qcow2|raw&visibility=private|shared`: the body,
/// streamed into the template store (never held in memory), becomes a blob; then the Template
/// `name` is applied pointing at it. A body over the limit, cut off, or not a standalone image
/// leaves neither a blob nor a Template.
struct TemplatePush: Sendable {
    let service: APIService
    /// Nil: this Drove keeps no pushed images.
    let blobs: TemplateBlobStore?
    let maxBytes: UInt64

    func register(on api: RouterGroup<DroveRequestContext>) {
        // `{kind}`, not `templates`: a literal segment would hide GET /api/v1/templates (see sync).
        api.put("{kind}/{name}/image") { request, context in
            guard let principal = context.principal else { throw APIError(.unauthorized, "the request is not authenticated") }
            return try await push(request, name: context.parameters.get("name") ?? "", kind: context.parameters.get("kind") ?? "", as: principal)
        }
    }

    /// Whether `request` is a push: the one route whose body is not held to `maxBodyBytes`.
    static func isPush(_ request: Request) -> Bool {
        guard request.method == .put else { return false }
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        return parts.count == 6 && "/\(parts[1])/\(parts[2])" == APIPaths.base && APIPaths.kind(parts[3]) == .template
            && Names.isDNSLabel(parts[4]) && parts[5] == "image"
    }

    func push(_ request: Request, name: String, kind: String, as principal: Principal) async throws -> Response {
        guard APIPaths.kind(kind) == .template else { throw APIError(.notFound, "only templates take images: PUT \(APIPaths.templateImage("NAME"))") }
        guard let blobs else {
            throw APIError(.notImplemented, "this Drove has no template store: pushes need drove serve (which keeps them in <data-dir>/templates)")
        }
        guard Names.isDNSLabel(name) else { throw APIError(.badRequest, "\"\(name)\" is not a valid Template name: \(Names.nameRule)") }
        let query = request.uri.queryParameters
        guard let format = BlobFormat(rawValue: query["format"].map(String.init) ?? "qcow2") else {
            throw APIError(.badRequest, "format=\(query["format"] ?? "") is not a template format: use qcow2 or raw")
        }
        guard let visibility = TemplateVisibility(rawValue: query["visibility"].map(String.init) ?? "private") else {
            throw APIError(.badRequest, "visibility=\(query["visibility"] ?? "") is not a visibility: use private or shared")
        }
        let declared = request.headers[.contentLength].flatMap { UInt64($0) }
        if let declared, declared > maxBytes { throw tooLarge(declared) }
        // Who may not apply the Template is refused before a byte is stored.
        try await service.checkMayPush(template: name, as: principal)

        let upload: BlobUpload
        do {
            upload = try blobs.beginUpload(format: format, limit: maxBytes)
        } catch {
            throw APIError(.internalServerError, "Template/\(name): \(error)")
        }
        do {
            var received: UInt64 = 0
            for try await buffer in request.body {
                received += UInt64(buffer.readableBytes)
                try await upload.write(Data(buffer: buffer))
            }
            if let declared, received != declared {
                throw APIError(.badRequest, "Template/\(name): the body ended after \(received) of \(declared) bytes; nothing was kept")
            }
            let (blob, result) = try await upload.finish { blob in (blob, try await apply(blob, name: name, visibility: visibility, directory: blobs.directory, as: principal)) }
            let answer = APITemplatePushResponse(name: name, digest: blob.digest, size: blob.size, virtualSize: blob.virtualSize,
                                                 format: blob.format.rawValue, result: result.result)
            return JSONResponse.make(result.result == "created" ? .created : .ok, answer)
        } catch {
            await upload.abort()
            throw describe(error, name: name)
        }
    }

    /// Applies the Template `name` pointing at `blob`, as `drove apply` would.
    private func apply(_ blob: StoredBlob, name: String, visibility: TemplateVisibility, directory: String,
                       as principal: Principal) async throws -> APIApplyResult {
        let manifest = """
            apiVersion: drove/v1
            kind: Template
            metadata: { name: \(name) }
            spec:
              source: { blob: "\(blob.digest)" }
              format: \(blob.format.rawValue)
              visibility: \(visibility.rawValue)

            """
        let response = try await service.apply([ManifestSource(name: "push:Template/\(name)", text: manifest, baseDirectory: directory)],
                                               as: principal, pushedBlob: blob.digest)
        guard let result = response.results.first(where: { $0.kind == ObjectKind.template.rawValue && $0.name == name }) else {
            throw APIError(.internalServerError, "Template/\(name): the apply answered no result for it")
        }
        return result
    }

    private func tooLarge(_ bytes: UInt64?) -> APIError {
        let size = bytes.map { "is \($0) bytes" } ?? "is larger"
        return APIError(.contentTooLarge, "the image \(size), over the limit of \(maxBytes) bytes (drove serve --max-template-size)")
    }

    /// The store's errors with their HTTP status; the API's own pass through.
    private func describe(_ error: any Error, name: String) -> any Error {
        switch error {
        case let error as TemplateStoreError:
            switch error {
            case .tooLarge: tooLarge(nil)
            case .refused: APIError(.unprocessableContent, "Template/\(name): \(error)")
            default: APIError(.internalServerError, "Template/\(name): \(error)")
            }
        default: error
        }
    }
}
