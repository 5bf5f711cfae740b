import DroveAPI
import DroveManifest
import Foundation

/// One fuzz input, taken in both ways `drove serve` takes manifests: as a YAML file through the
/// loader (the body of `POST /api/v1/apply` with `Content-Type: application/yaml`), and, when it
/// decodes as one, as the JSON `{"sources": [...]}` body of the same route, with the API's own
/// decoder and wire types, its diagnostics encoded as the 422 answer would be.
///
/// A crash, a trap of the checks below, or a hang (libFuzzer's `-timeout`) is a finding.
enum FuzzInput {
    static let baseDirectory = "/srv/manifests"
    /// `drove serve`'s default policy (ServeCommand): no template files, no local repositories,
    /// a template store.
    static let loader = ManifestLoader(workingDirectory: baseDirectory, policy: ManifestPolicy(
        templateFiles: .nowhere, localRepositories: .nowhere, templateStore: "/var/lib/drove/templates"))

    static func run(_ bytes: [UInt8]) {
        check(loader.check(sources: [ManifestSource(name: "fuzz.yaml", bytes: bytes, baseDirectory: baseDirectory)]))

        guard bytes.first == UInt8(ascii: "{"), let request = try? APIJSON.decoder().decode(APISources.self, from: Data(bytes)) else { return }
        // As the route does: relative base directories are refused before loading.
        guard request.sources.allSatisfy({ $0.baseDirectory.map { $0.hasPrefix("/") } ?? true }) else { return }
        let sources = request.sources.map {
            ManifestSource(name: $0.name, text: $0.text, baseDirectory: $0.baseDirectory ?? baseDirectory)
        }
        let result = loader.check(sources: sources)
        check(result)
        let answer = APIErrorBody(error: "the manifests have errors", errors: result.diagnostics.map(APIDiagnostic.init))
        guard (try? APIJSON.encoder().encode(answer)) != nil else { fatalError("a 422 answer does not encode") }
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
