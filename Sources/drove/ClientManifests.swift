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

/// Manifest files read as the loader reads them, to be sent to the API as they are.
struct ClientManifests {
    /// One per file, named as diagnostics name it, with its directory as base directory.
    var sources: [APISource]
    /// The objects they declare, when they load on their own.
    var manifest: Manifest?

    /// Reads `paths` (files, directories, `-`) within the loader's size limits and checks them
    /// as strictly as `drove validate`, except that a VM set may name a template that only the
    /// server holds. Prints every problem and exits 1 if there is one.
    static func read(_ paths: [String]) throws -> ClientManifests {
        let files = ManifestFiles.read(paths)
        // The server applies its own policy; here only what no server accepts is refused.
        let result = ManifestLoader(policy: .anyConfiguration).check(files)
        // A template the server already holds is the server's to find.
        let errors = result.diagnostics.filter { $0.code != .templateNotDeclared }
        if !errors.isEmpty {
            for diagnostic in errors { Terminal.error(diagnostic.description) }
            let count = errors.count
            Terminal.error("\(count) \(count == 1 ? "error" : "errors") in the manifests; nothing was sent")
            throw ExitCode(1)
        }
        // Checked above: every file is UTF-8.
        let sources = files.sources.map {
            APISource(name: $0.name, text: String(decoding: $0.bytes, as: UTF8.self), baseDirectory: $0.baseDirectory)
        }
        return ClientManifests(sources: sources, manifest: result.manifest)
    }
}
