import ArgumentParser
import DroveClient
import Foundation

/// `drove diff -f PATH`: what the controller would do if these manifests were applied.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what the running controller would do if the manifests were applied.",
        discussion: """
            Sends the manifests to the controller, which plans them over what it holds (VM sets \
            left out of the files are not planned away) against the hosts as they are now, and \
            changes nothing. With --exit-code, exits 1 when the plan has actions (like git diff).
            """)

    @OptionGroup var manifests: ManifestOptions
    @OptionGroup var connection: ClientOptions

    @Option(name: .shortAndLong, help: "Output format: text or json.")
    var output: DiffOutput = .text

    @Flag(help: "Exit 1 when there is something to do, 0 when the fleet already matches.")
    var exitCode = false

    enum DiffOutput: String, ExpressibleByArgument, CaseIterable { case text, json }

    func validate() throws {
        try manifests.requireFiles()
    }

    func run() async throws {
        try await reportingClientErrors {
            let client = try connection.client()
            let sources = try ClientManifests.sources(manifests.files)
            let plan = try await sendingManifests(verb: "planned") { () async throws(ClientError) in try await client.plan(sources) }
            switch output {
            case .json:
                print(try ClientText.json(plan))
            case .text:
                for note in plan.notes { print("note: \(note)") }
                if plan.actions.isEmpty {
                    print("No changes: the fleet matches the manifests.")
                } else {
                    print(Terminal.table([["ID", "HOST", "ACTION", "AFTER", "WHAT"]] + plan.actions.map {
                        [String($0.id), $0.host, $0.action, $0.dependsOn.map(String.init).joined(separator: ","), $0.summary]
                    }))
                }
                for item in plan.unschedulable { print("unschedulable: \(item.vm): \(item.reason)") }
            }
            if exitCode, !plan.actions.isEmpty { throw ExitCode(1) }
        }
    }
}
