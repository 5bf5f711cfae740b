import ArgumentParser
import DroveClient
import DroveManifest
import Foundation

/// `drove delete -f PATH` or `drove delete KIND NAME...`: asks the controller to remove objects.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Ask the running controller to delete objects (and the VMs they made).",
        discussion: """
            Names the objects with -f PATH (every object the manifests declare; only each \
            document's kind and metadata.name are read) or as KIND NAME... or KIND/NAME... \
            (kind: vmset, template, host). All are marked for deletion \
            together, so a template may go with the VM sets that use it; the controller then \
            removes their VMs and prunes them. Exits 1 if an object is not found (unless \
            --ignore-not-found) or the controller refuses (a template still in use).
            """)

    @OptionGroup var manifests: ManifestOptions

    @Argument(help: ArgumentHelp("KIND NAME..., or KIND/NAME...", valueName: "object"))
    var objects: [String] = []

    @Flag(help: "Do not fail for objects that do not exist.")
    var ignoreNotFound = false

    @Flag(help: "Wait until the controller has removed them.")
    var wait = false

    @Option(help: "How long --wait waits (like 90s, 5m).")
    var timeout: DurationOption = DurationOption(argument: "10m")!

    @OptionGroup var connection: ClientOptions

    func validate() throws {
        if manifests.files.isEmpty == objects.isEmpty {
            throw ValidationError("name what to delete either with -f PATH or as KIND NAME (not both)")
        }
        if !objects.isEmpty { _ = try references() }
    }

    /// `vmset web api` (one kind, several names) or `vmset/web template/alpine`.
    func references() throws -> [ObjectReference] {
        if objects.allSatisfy({ $0.contains("/") }) {
            return try objects.map { try ObjectArguments.reference($0, nil) }
        }
        guard let kind = objects.first, objects.count >= 2 else {
            throw ValidationError("name the object: KIND NAME, or KIND/NAME")
        }
        return try objects.dropFirst().map { try ObjectArguments.reference(kind, $0) }
    }

    func run() async throws {
        try await reportingClientErrors {
            let client = try connection.client()
            let targets = manifests.files.isEmpty ? try references() : try ClientManifests.references(manifests.files)
            let response = try await client.delete(targets)
            var missing = false
            var deleting: [ObjectReference] = []
            for (reference, result) in zip(targets, response.results) {
                let name = ClientText.name(kind: result.kind, result.name)
                switch result.result {
                case "deletionRequested":
                    print("\(name) deletion requested")
                    deleting.append(reference)
                case "alreadyRequested":
                    print("\(name) already being deleted")
                    deleting.append(reference)
                default:
                    if !ignoreNotFound {
                        Terminal.error("error: \(reference) not found")
                        missing = true
                    }
                }
            }
            if wait, !deleting.isEmpty {
                let waiter = ObjectWaiter(client: client, condition: .deleted)
                let late = try await waiter.wait(for: deleting, timeout: timeout.duration)
                for (reference, object) in late {
                    Terminal.error("error: \(reference) is still there after \(Terminal.duration(timeout.duration)): \(ObjectWaiter.reason(object, condition: .deleted))")
                }
                if !late.isEmpty { throw ExitCode(1) }
                Terminal.status("deleted")
            }
            if missing { throw ExitCode(1) }
        }
    }
}
