import ArgumentParser
import DroveManifest

/// `drove schema`: the JSON Schema of drove/v1 manifests, for editors and CI.
struct Schema: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of drove/v1 manifest documents.",
        discussion: """
            Point an editor's YAML language server at it for completion and checking as you type. \
            drove validate remains the authority: it also checks names across objects and references.
            """
    )

    func run() async throws {
        print(ManifestSchema.json(), terminator: "")
    }
}
