import ArgumentParser
import DroveClient
import DroveManifest
import Foundation

/// `drove wait KIND/NAME --for condition=Ready --timeout 5m`.
struct WaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait until objects meet a condition (or are deleted).",
        discussion: """
            OBJECT is KIND/NAME (vmset/web, template/alpine, host/node-a), or KIND NAME... for \
            several of one kind. --for condition=Ready waits until the Ready condition is True for \
            the object's current generation (a VM set: every replica made from its current spec \
            and ready, by its guest's word where the template has readiness: agent); running \
            until every replica of a VM set runs, ready or not; condition=TYPE=STATUS for another \
            condition; delete until it is gone. Exits 0 when all meet it, 1 at the timeout \
            (naming each one that did not, and why).
            """)

    @Argument(help: ArgumentHelp("KIND/NAME..., or KIND NAME...", valueName: "object"))
    var objects: [String] = []

    @Option(name: .customLong("for"), help: ArgumentHelp("condition=Ready, condition=TYPE=STATUS, running, or delete.", valueName: "condition"))
    var condition: String = "condition=Ready"

    @Option(help: "How long to wait (like 90s, 5m, 1h).")
    var timeout: DurationOption = DurationOption(argument: "5m")!

    @OptionGroup var connection: ClientOptions

    func validate() throws {
        if objects.isEmpty { throw ValidationError("name what to wait for: KIND/NAME (like vmset/web)") }
        if WaitCondition(argument: condition) == nil {
            throw ValidationError("--for \(condition) is not understood: use condition=Ready, condition=TYPE=STATUS (True, False, Unknown), running, or delete")
        }
        _ = try references()
    }

    func references() throws -> [ObjectReference] {
        if objects.allSatisfy({ $0.contains("/") }) {
            return try objects.map { try ObjectArguments.reference($0, nil) }
        }
        guard objects.count >= 2 else { throw ValidationError("name the object: KIND/NAME, or KIND NAME") }
        return try objects.dropFirst().map { try ObjectArguments.reference(objects[0], $0) }
    }

    func run() async throws {
        let targets = try references()
        let wanted = WaitCondition(argument: condition)!
        try await reportingClientErrors {
            let client = try connection.client()
            let waiter = ObjectWaiter(client: client, condition: wanted)
            let late = try await waiter.wait(for: targets, timeout: timeout.duration)
            for reference in targets where !late.contains(where: { $0.0 == reference }) {
                print("\(ClientText.name(kind: reference.kind.rawValue, reference.name)) condition met: \(wanted)")
            }
            for (reference, object) in late {
                Terminal.error("error: \(reference): timed out after \(Terminal.duration(timeout.duration)) waiting for \(wanted): "
                    + ObjectWaiter.reason(object, condition: wanted))
            }
            if !late.isEmpty { throw ExitCode(1) }
        }
    }
}

extension WaitCondition {
    /// `--for`: `condition=Ready`, `condition=Degraded=False`, `running`, `delete`.
    init?(argument: String) {
        if argument == "delete" || argument == "deleted" {
            self = .deleted
            return
        }
        if argument == "running" {
            self = .running
            return
        }
        guard argument.lowercased().hasPrefix("condition=") else { return nil }
        let parts = argument.dropFirst("condition=".count).split(separator: "=", omittingEmptySubsequences: false)
        guard let type = parts.first, !type.isEmpty, parts.count <= 2 else { return nil }
        let status = parts.count == 2 ? String(parts[1]) : "True"
        guard ["true", "false", "unknown"].contains(status.lowercased()) else { return nil }
        self = .condition(type: Self.capitalized(String(type)), status: Self.capitalized(status))
    }

    private static func capitalized(_ word: String) -> String {
        word.prefix(1).uppercased() + word.dropFirst().lowercased()
    }
}
