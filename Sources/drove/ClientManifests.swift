import ArgumentParser
import DroveAPI
import DroveManifest
import Foundation

/// The `-f` files of the verbs that read manifests.
struct ManifestOptions: ParsableArguments {
    @Option(name: [.customShort("f"), .customLong("filename")],
            help: ArgumentHelp("A manifest file, a directory of them (every *.yaml and *.yml below it), or - for standard input (repeatable).",
                               valueName: "path"))
    var files: [String] = []

    /// For the verbs that cannot do without manifests.
    func requireFiles() throws {
        if files.isEmpty { throw ValidationError("name the manifests with -f PATH (a file, a directory, or - for standard input)") }
    }
}

/// Manifest files read as the loader reads them (within its size limits), for the verbs that
/// send them to the API or name objects with them.
enum ClientManifests {
    /// Reads `paths` (files, directories, `-`) and checks them as strictly as `drove validate`,
    /// except that a VM set may name a template that only the server holds; returns them as the
    /// API takes them, one per file, named as diagnostics name it, based in its directory.
    /// Prints every problem and exits 1 if there is one.
    static func sources(_ paths: [String]) throws -> [APISource] {
        let files = ManifestFiles.read(paths)
        // The server applies its own policy; here only what no server accepts is refused.
        let result = ManifestLoader(policy: .anyConfiguration).check(files)
        // A template the server already holds is the server's to find.
        try refuse(result.diagnostics.filter { $0.code != .templateNotDeclared })
        // Checked above: every file is UTF-8.
        return files.sources.map {
            APISource(name: $0.name, text: String(decoding: $0.bytes, as: UTF8.self), baseDirectory: $0.baseDirectory)
        }
    }

    /// The objects `paths` declare, each once, by kind and `metadata.name` alone: nothing else in
    /// the files is checked, so a VM set can be named without the template it uses. Prints
    /// every problem and exits 1 if there is one.
    static func references(_ paths: [String]) throws -> [ObjectReference] {
        let declarations = ManifestLoader.declarations(in: ManifestFiles.read(paths))
        try refuse(declarations.diagnostics)
        var seen = Set<ObjectReference>()
        return declarations.objects.map(\.reference).filter { seen.insert($0).inserted }
    }

    private static func refuse(_ errors: [Diagnostic]) throws {
        guard !errors.isEmpty else { return }
        for diagnostic in errors { Terminal.error(diagnostic.description) }
        Terminal.error("\(errors.count) \(errors.count == 1 ? "error" : "errors") in the manifests; nothing was sent")
        throw ExitCode(1)
    }
}
