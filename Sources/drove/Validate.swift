import ArgumentParser
import DroveManifest
import Foundation

/// `drove validate`: reads manifests strictly and reports every problem, deploying nothing.
struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check manifests without deploying anything.",
        discussion: """
            Reads every file given (a directory means every *.yaml and *.yml below it; - means \
            standard input) and reports all problems at once, one per line on standard error, as \
            file:line:column: Kind/name: field.path: what is wrong. Exits 1 if there is any.
            """
    )

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case text
        case json
    }

    @Option(name: [.customShort("f"), .customLong("filename")],
            help: ArgumentHelp("A manifest file, a directory of them, or - for standard input (repeatable).", valueName: "path"))
    var filenames: [String] = []

    @Option(name: [.customShort("o"), .customLong("output")], help: "Output format: text or json.")
    var output: OutputFormat = .text

    @OptionGroup(title: "What manifests may name") var policy: PolicyOptions

    func validate() throws {
        if filenames.isEmpty { throw ValidationError("give at least one manifest with -f PATH (a file, a directory, or - for standard input)") }
    }

    func run() async throws {
        let result = ManifestLoader(policy: policy.policy()).check(paths: filenames)
        let label = filenames.map { $0 == "-" ? ManifestLoader.standardInputName : $0 }.joined(separator: ", ")
        switch output {
        case .text:
            if !result.warnings.isEmpty {
                FileHandle.standardError.write(Data(result.warnings.map { "warning: \($0)\n" }.joined().utf8))
            }
            if let manifest = result.manifest {
                print("\(label): \(Self.summary(manifest)) — valid")
            } else {
                var text = result.diagnostics.map(\.description).joined(separator: "\n")
                let count = result.diagnostics.count
                text += "\n\(label): \(count) \(count == 1 ? "error" : "errors") — invalid\n"
                FileHandle.standardError.write(Data(text.utf8))
            }
        case .json:
            print(Self.report(result).rendered(), terminator: "")
        }
        if result.manifest == nil { throw ExitCode(1) }
    }

    static func summary(_ manifest: Manifest) -> String {
        func count(_ n: Int, _ singular: String, _ plural: String) -> String { "\(n) \(n == 1 ? singular : plural)" }
        let sources = manifest.gitSources.isEmpty ? "" : ", \(count(manifest.gitSources.count, "git source", "git sources"))"
        return "\(count(manifest.hosts.count, "host", "hosts")), \(count(manifest.templates.count, "template", "templates")), "
            + "\(count(manifest.vmSets.count, "VM set", "VM sets")) (\(count(manifest.totalReplicas, "VM", "VMs")))" + sources
    }

    /// The machine-readable result: validity, files, objects and their origins, diagnostics.
    static func report(_ result: LoadResult) -> JSONValue {
        func location(_ location: SourceLocation) -> [String: JSONValue] {
            ["file": .string(location.file), "line": .int(location.line), "column": .int(location.column)]
        }
        func entries(_ diagnostics: [Diagnostic]) -> JSONValue {
            .array(diagnostics.map { diagnostic in
                var entry = location(diagnostic.location)
                entry["subject"] = .string(diagnostic.subject)
                entry["path"] = .string(diagnostic.path)
                entry["code"] = .string(diagnostic.code.rawValue)
                entry["message"] = .string(diagnostic.message)
                entry["text"] = .string(diagnostic.description)
                return .object(entry)
            })
        }
        var report: [String: JSONValue] = [
            "valid": .bool(result.manifest != nil),
            "files": .array(result.files.map { .string($0) }),
            "diagnostics": entries(result.diagnostics),
            "warnings": entries(result.warnings),
        ]
        if let manifest = result.manifest {
            report["summary"] = [
                "hosts": .int(manifest.hosts.count), "templates": .int(manifest.templates.count),
                "vmSets": .int(manifest.vmSets.count), "vms": .int(manifest.totalReplicas), "gitSources": .int(manifest.gitSources.count),
            ]
            report["objects"] = .array(manifest.references.map { reference in
                var entry: [String: JSONValue] = ["kind": .string(reference.kind.rawValue), "name": .string(reference.name)]
                if let origin = manifest.origins[reference] { entry.merge(location(origin)) { _, new in new } }
                return .object(entry)
            })
        }
        return .object(report)
    }
}
