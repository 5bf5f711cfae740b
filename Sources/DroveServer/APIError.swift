import DroveAPI
import DroveManifest
import DroveStore
import Foundation
import Hummingbird

/// An error the API answers with: an HTTP status and `{"error": "..."}` naming the object and
/// the cause (plus `errors` for manifest problems).
public struct APIError: Error, Sendable, HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var diagnostics: [Diagnostic]
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, diagnostics: [Diagnostic] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.diagnostics = diagnostics
        self.headers = headers
    }

    public var description: String { "\(status.code) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    func response() -> Response {
        let body = APIErrorBody(error: message, errors: diagnostics.isEmpty ? nil : diagnostics.map(APIDiagnostic.init))
        var response = JSONResponse.make(status, body)
        response.headers.append(contentsOf: headers)
        return response
    }

    /// Manifest problems: 422 with every diagnostic.
    static func invalidManifests(_ diagnostics: [Diagnostic]) -> APIError {
        let count = diagnostics.count
        let first = diagnostics.first.map { ": \($0.description)" } ?? ""
        return APIError(.unprocessableContent, "the manifests have \(count) \(count == 1 ? "error" : "errors")\(first)", diagnostics: diagnostics)
    }

    static func notFound(_ reference: ObjectReference) -> APIError {
        APIError(.notFound, "\(reference) not found")
    }

    /// The store's errors, each with the status that fits its cause.
    init(_ error: StoreError) {
        switch error {
        case .notFound:
            self.init(.notFound, error.description)
        case .inUse, .danglingReference, .ownedBySource, .ownershipConflict, .wouldPruneEverything, .userExists:
            self.init(.conflict, error.description)
        case .ownedByAnotherUser:
            self.init(.forbidden, error.description)
        case .duplicateInBatch:
            self.init(.badRequest, error.description)
        case .invalidObject, .documentNotFound:
            self.init(.unprocessableContent, error.description)
        case let .storedManifestInvalid(_, diagnostics):
            self.init(.internalServerError, error.description, diagnostics: diagnostics)
        case .closed, .locked, .full, .unavailable:
            self.init(.serviceUnavailable, error.description)
        case .notAStore, .newerSchema, .database, .invalidReason, .invalidLocation, .notEmpty:
            self.init(.internalServerError, error.description)
        }
    }
}

/// JSON responses, encoded the API's one way.
enum JSONResponse {
    static let contentType = "application/json; charset=utf-8"

    static func make(_ status: HTTPResponse.Status = .ok, _ value: some Encodable) -> Response {
        let data: Data
        do {
            data = try APIJSON.encoder().encode(value)
        } catch {
            // Our own types always encode; answer something well-formed if one ever does not.
            data = Data(#"{"error":"the server could not encode its answer"}"#.utf8)
            return Response(status: .internalServerError, headers: [.contentType: contentType],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
        var bytes = ByteBuffer(bytes: data)
        bytes.writeString("\n")
        return Response(status: status, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: bytes))
    }
}
