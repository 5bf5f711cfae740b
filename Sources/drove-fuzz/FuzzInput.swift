import DroveAPI
import DroveManifest
import Foundation

/// One fuzz input, taken in both ways `drove serve` takes manifests, through the apply route's
/// own request decoding (`APIApplyBody.sources`, which `POST /api/v1/apply` and `/plan` call):
/// as a YAML body (one file, for the loader) and as a JSON `{"sources": [...]}` body. What the
/// decoding accepts is loaded under the serve policy; a refusal's answer is encoded as the
/// route would encode it.
///
/// A crash, a trap of the checks below, or a hang (libFuzzer's `-timeout`) is a finding.
enum FuzzInput {
    static let baseDirectory = "/srv/manifests"
    /// `drove serve`'s default policy (ServeCommand): no template files, no local repositories,
    /// a template store.
    static let loader = ManifestLoader(workingDirectory: baseDirectory, policy: ManifestPolicy(
        templateFiles: .nowhere, localRepositories: .nowhere, templateStore: "/var/lib/drove/templates"))

    static func run(_ bytes: [UInt8]) {
        // The YAML body is the file as the loader reads it (named `fuzz.yaml`, as before).
        throughRoute(bytes, contentType: "application/yaml; charset=utf-8")
        // JSON bodies start with `{`; anything else is refused early, which costs the fuzzer time.
        if bytes.first == UInt8(ascii: "{") { throughRoute(bytes, contentType: "application/json") }
    }

    /// As the route does: decode, then load what was decoded, or answer the refusal.
    static func throughRoute(_ bytes: [UInt8], contentType: String) {
        let sources: [ManifestSource]
        do {
            sources = try APIApplyBody.sources(contentType: contentType, name: "fuzz.yaml", base: baseDirectory, body: bytes,
                                               workingDirectory: baseDirectory)
        } catch {
            precondition(!error.message.isEmpty, "a refusal without a message")
            precondition(error.status != .unsupportedMediaType, "\(contentType) refused as a media type")
            // Only the budget answers 422 here, and always with the diagnostic that says where.
            precondition((error.status == .unprocessableContent) == !error.diagnostics.isEmpty, "a 422 without diagnostics, or one with them")
            encode(APIErrorBody(error: error.message, errors: error.diagnostics.map(APIDiagnostic.init)))
            return
        }
        precondition(!sources.isEmpty, "decoded to no sources")
        precondition(sources.allSatisfy { $0.baseDirectory.hasPrefix("/") }, "a relative base directory got through")
        let result = loader.check(sources: sources)
        check(result)
        encode(APIErrorBody(error: "the manifests have errors", errors: result.diagnostics.map(APIDiagnostic.init)))
    }

    static func encode(_ answer: APIErrorBody) {
        guard (try? APIJSON.encoder().encode(answer)) != nil else { fatalError("an error answer does not encode") }
    }

    /// What every load must hold, whatever the input: a manifest or diagnostics, never both or
    /// neither; every diagnostic at a 1-based position in a file that was read.
    static func check(_ result: LoadResult) {
        if result.manifest == nil {
            precondition(!result.diagnostics.isEmpty, "refused without a diagnostic")
        } else {
            precondition(result.diagnostics.isEmpty, "a manifest together with diagnostics")
        }
        for diagnostic in result.diagnostics {
            precondition(diagnostic.location.line >= 1 && diagnostic.location.column >= 1, "no position: \(diagnostic)")
            precondition(result.files.contains(diagnostic.location.file), "names a file not read: \(diagnostic)")
            _ = diagnostic.description
        }
    }
}
