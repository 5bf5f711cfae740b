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

    /// Reads `paths` (files, directories, `-`) and checks them as strictly as `drove validate`,
    /// except that a VM set may name a template that only the server holds. Prints every
    /// problem and exits 1 if there is one.
    static func read(_ paths: [String], allowingTemplatesOnServer: Bool = true) throws -> ClientManifests {
        let workingDirectory = FileManager.default.currentDirectoryPath
        var sources: [APISource] = []
        var problems: [String] = []
        var stdinRead = false
        for path in paths {
            if path == "-" {
                guard !stdinRead else { problems.append("-: standard input is named twice"); continue }
                stdinRead = true
                let data = FileHandle.standardInput.readDataToEndOfFile()
                sources.append(APISource(name: ManifestLoader.standardInputName, text: String(decoding: data, as: UTF8.self),
                                         baseDirectory: workingDirectory))
                continue
            }
            let absolute = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: workingDirectory, isDirectory: true)).standardizedFileURL.path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else {
                problems.append("\(path): no such file or directory")
                continue
            }
            let files = isDirectory.boolValue ? yamlFiles(under: absolute, display: path) : [(display: path, absolute: absolute)]
            if files.isEmpty { problems.append("\(path): no .yaml or .yml files in this directory") }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file.absolute) else {
                    problems.append("\(file.display): cannot read it")
                    continue
                }
                guard let text = String(data: data, encoding: .utf8) else {
                    problems.append("\(file.display): not valid UTF-8 (manifests must be UTF-8)")
                    continue
                }
                sources.append(APISource(name: file.display, text: text, baseDirectory: (file.absolute as NSString).deletingLastPathComponent))
            }
        }
        if !problems.isEmpty {
            for problem in problems { Terminal.error(problem) }
            throw ExitCode(1)
        }
        // The server applies its own policy; here only what no server accepts is refused.
        let result = ManifestLoader(policy: .anyConfiguration).check(sources: sources.map {
            ManifestSource(name: $0.name, text: $0.text, baseDirectory: $0.baseDirectory ?? workingDirectory)
        })
        // A template the server already holds is the server's to find.
        let errors = result.diagnostics.filter { diagnostic in
            !(allowingTemplatesOnServer && diagnostic.code == .templateNotDeclared)
        }
        if !errors.isEmpty {
            for diagnostic in errors { Terminal.error(diagnostic.description) }
            let count = errors.count
            Terminal.error("\(count) \(count == 1 ? "error" : "errors") in the manifests; nothing was sent")
            throw ExitCode(1)
        }
        return ClientManifests(sources: sources, manifest: result.manifest)
    }

    /// Every `*.yaml` and `*.yml` below `directory`, hidden ones skipped, in byte order.
    private static func yamlFiles(under directory: String, display: String) -> [(display: String, absolute: String)] {
        let root = URL(fileURLWithPath: directory, isDirectory: true)
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles]) else {
            return []
        }
        let prefix = root.standardizedFileURL.path
        var relatives: [String] = []
        for case let url as URL in enumerator where url.pathExtension == "yaml" || url.pathExtension == "yml" {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let full = url.standardizedFileURL.path
            guard full.hasPrefix(prefix) else { continue }
            relatives.append(String(full.dropFirst(prefix.count).drop { $0 == "/" }))
        }
        let shown = display.hasSuffix("/") ? String(display.dropLast()) : display
        return relatives.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { ("\(shown)/\($0)", "\(directory)/\($0)") }
    }
}
