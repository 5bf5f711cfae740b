import ArgumentParser
import DroveAPI
import DroveClient
import DroveManifest
import Foundation

/// `drove sync gitsource NAME [--wait]`: asks the controller to sync a git source now.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Ask the controller to sync a git source now, and optionally wait for the fleet to converge.",
        discussion: """
            The controller fetches the source's ref, validates the new revision and applies it (see \
            docs/gitops.md). With --wait, it waits until that sync has happened and then until \
            every VM set the source owns is Ready at the applied revision; a revision that was \
            refused (invalid manifests, a conflict, a fetch that failed) is printed with every \
            error and exits 1, as does a timeout.
            """)

    @Argument(help: ArgumentHelp("gitsource (or gitsource/NAME).", valueName: "kind"))
    var kindWord: String

    @Argument(help: "The git source's name.")
    var name: String?

    @Flag(help: "Wait for the sync, then for every VM set the source owns to be Ready.")
    var wait = false

    @Option(help: "How long --wait waits (like 90s, 5m, 1h).")
    var timeout: DurationOption = DurationOption(argument: "10m")!

    @OptionGroup var connection: ClientOptions

    func validate() throws {
        let reference = try ObjectArguments.reference(kindWord, name)
        guard reference.kind == .gitSource else { throw ValidationError("only git sources sync: drove sync gitsource NAME") }
    }

    func run() async throws {
        let reference = try ObjectArguments.reference(kindWord, name)
        let shown = ClientText.name(kind: reference.kind.rawValue, reference.name)
        try await reportingClientErrors {
            let client = try connection.client()
            let answer = try await client.sync(gitSource: reference.name)
            print("\(shown): sync requested")
            guard wait, let requested = answer.requestedAt else { return }

            var waiter = ObjectWaiter(client: client, condition: .synced(after: requested))
            var printed = ""
            waiter.progress = { _, object in
                guard let git = object?.status?.git else { return }
                let applied = git.appliedRevision.map { "applied \($0.prefix(12))" } ?? "nothing applied"
                let waiting = git.waitingFor.map { ", waiting for \($0.joined(separator: ", "))" } ?? ""
                let line = "\(shown): \(applied)\(waiting)"
                if line != printed { Terminal.status(line) }
                printed = line
            }
            let late = try await waiter.wait(for: [reference], timeout: timeout.duration)
            if let (_, object) = late.first {
                Terminal.error("error: \(reference): timed out after \(Terminal.duration(timeout.duration)) waiting for \(waiter.condition): "
                    + ObjectWaiter.reason(object, condition: waiter.condition))
                throw ExitCode(1)
            }
            let object = try await client.object(reference)
            guard let status = object.status, let git = status.git, status.condition("Ready")?.status == "True" else {
                let git = object.status?.git
                Terminal.error("error: \(reference): \(git?.attemptError ?? object.status?.condition("Ready")?.message ?? "the sync failed")")
                for error in git?.errors ?? [] { Terminal.error(error.text) }
                throw ExitCode(1)
            }
            print("\(shown): revision \(git.appliedRevision.map { String($0.prefix(12)) } ?? "-") applied, \(git.objects) objects, fleet converged")
        }
    }
}
