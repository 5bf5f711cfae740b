import DroveManifest
import Foundation

/// How `POST /api/v1/apply` and `/plan` read their body into manifest files, apart from HTTP:
/// the server's routes call it, and so does the fuzzer (Sources/drove-fuzz), which thereby
/// runs the very decoding a request goes through.
public enum APIApplyBody {
    /// Media types of a YAML body (one file); no `Content-Type` at all is read as YAML too.
    public static let yamlTypes: Set<String> = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"]

    /// The manifest files of a body: YAML (one file, named `name` in diagnostics, default
    /// `<request>`, its relative template paths resolved against `base`), or JSON
    /// `{"sources": [...]}` (`APISources`). Sources without a base directory get
    /// `workingDirectory`.
    ///
    /// - Parameter contentType: the `Content-Type` header as sent (parameters such as
    ///   `; charset=utf-8` are ignored), or nil.
    /// - Throws: `APIRequestError`: 415 for another media type; 400 for JSON that is not
    ///   `APISources`, no sources, a relative base directory; 422 when the files together go
    ///   over the request's budget of documents or nodes (`ManifestLoader.requestBudgetProblem`).
    public static func sources(contentType: String?, name: String?, base: String?, body: [UInt8],
                               workingDirectory: String) throws(APIRequestError) -> [ManifestSource] {
        let type = contentType.map { $0.split(separator: ";", omittingEmptySubsequences: false)[0].trimmingCharacters(in: .whitespaces).lowercased() }
        let sources: [ManifestSource]
        switch type {
        case "application/json":
            let decoded: APISources
            do {
                decoded = try APIJSON.decoder().decode(APISources.self, from: Data(body))
            } catch {
                throw APIRequestError(.badRequest, "the request body is not the JSON expected: \(APIJSON.describe(error))")
            }
            guard !decoded.sources.isEmpty else { throw APIRequestError(.badRequest, "the request has no sources") }
            sources = try decoded.sources.map { source throws(APIRequestError) in
                ManifestSource(name: source.name, text: source.text,
                               baseDirectory: try baseDirectory(source.baseDirectory, for: source.name) ?? workingDirectory)
            }
        case let type? where !yamlTypes.contains(type):
            throw APIRequestError(.unsupportedMediaType,
                                  "Content-Type \(type) is not accepted: send application/yaml, or application/json {\"sources\": [...]}")
        default:
            let name = name ?? "<request>"
            sources = [ManifestSource(name: name, bytes: body, baseDirectory: try baseDirectory(base, for: name) ?? workingDirectory)]
        }
        if let problem = ManifestLoader.requestBudgetProblem(sources) {
            throw APIRequestError(.unprocessableContent, problem.description, diagnostics: [problem])
        }
        return sources
    }

    static func baseDirectory(_ path: String?, for source: String) throws(APIRequestError) -> String? {
        guard let path else { return nil }
        guard path.hasPrefix("/") else {
            throw APIRequestError(.badRequest, "\(source): base directory \"\(path)\" is not absolute")
        }
        return path
    }
}

/// A request the API refuses before doing anything: the HTTP status and why.
public struct APIRequestError: Error, Sendable, CustomStringConvertible {
    public enum Status: Int, Sendable {
        case badRequest = 400
        case unsupportedMediaType = 415
        case unprocessableContent = 422
    }

    public var status: Status
    public var message: String
    /// Manifest problems, for a 422.
    public var diagnostics: [Diagnostic]

    public init(_ status: Status, _ message: String, diagnostics: [Diagnostic] = []) {
        self.status = status
        self.message = message
        self.diagnostics = diagnostics
    }

    public var description: String { "\(status.rawValue) \(message)" }
}

extension APIJSON {
    /// A decoding error in words, naming the field: `missing field sources[0].text`.
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, context):
            "missing field \(path(context.codingPath + [key]))"
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            "wrong type at \(path(context.codingPath)): \(context.debugDescription)"
        case let DecodingError.dataCorrupted(context):
            context.codingPath.isEmpty ? "not valid JSON" : "bad value at \(path(context.codingPath)): \(context.debugDescription)"
        default:
            "\(error)"
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
}
