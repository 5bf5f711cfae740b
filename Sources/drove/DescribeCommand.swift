import ArgumentParser
import DroveAPI
import DroveClient
import DroveManifest
import Foundation

/// `drove describe KIND NAME`: one object, its conditions, its VMs (a VM set) or its revisions
/// and owned objects (a git source), and its recent events.
struct DescribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Show one object in detail: status, conditions, VMs and recent events.",
        discussion: "KIND is vmset, template, host or gitsource (plural works too); KIND/NAME works as well.")

    @Argument(help: ArgumentHelp("vmset, template, host or gitsource; or KIND/NAME.", valueName: "kind"))
    var kindWord: String

    @Argument(help: "The object's name.")
    var name: String?

    @Option(help: "How many of the newest events to show.")
    var events: Int = 20

    @OptionGroup var connection: ClientOptions

    func validate() throws {
        _ = try ObjectArguments.reference(kindWord, name)
        if events < 0 { throw ValidationError("--events must not be negative") }
    }

    func run() async throws {
        let reference = try ObjectArguments.reference(kindWord, name)
        try await reportingClientErrors {
            let client = try connection.client()
            let object = try await client.object(reference)
            var vms: [VMSummary] = []
            var owned: [APIObject] = []
            if reference.kind == .vmSet {
                vms = try await client.vms(of: reference.name)
            }
            if reference.kind == .gitSource {
                for kind in [ObjectKind.host, .template, .vmSet] {
                    owned += try await client.objects(kind).filter { $0.source == reference.name }
                }
            }
            let recent = events > 0 ? try await client.events(of: reference, tail: events).items : []
            print(Self.render(object, vms: vms, owned: owned, events: recent), terminator: "")
        }
    }

    static func render(_ object: APIObject, vms: [VMSummary], owned: [APIObject] = [], events: [APIEvent], now: Date = Date()) -> String {
        var fields: [(String, String)] = [
            ("Name", object.name),
            ("Kind", object.kind),
            ("Labels", ClientText.labels(object.labels)),
            ("Created", "\(APIJSON.formatTime(object.createdAt)) (\(ClientText.age(since: object.createdAt, now: now)) ago)"),
            ("Updated", "\(APIJSON.formatTime(object.updatedAt)) (\(ClientText.age(since: object.updatedAt, now: now)) ago)"),
            ("Generation", "\(object.generation)" + (object.status.map { " (observed: \($0.observedGeneration))" } ?? " (not yet observed)")),
            ("State", ClientText.state(object)),
        ]
        if let deleting = object.deletionRequestedAt {
            fields.append(("Deletion requested", "\(APIJSON.formatTime(deleting)) (\(ClientText.age(since: deleting, now: now)) ago)"))
        }
        for (key, value) in (object.summary ?? [:]).sorted(by: { $0.key < $1.key }) {
            fields.append((key.prefix(1).uppercased() + key.dropFirst(), value))
        }
        if let source = object.source {
            fields.append(("Owned by", "gitsource/\(source)" + (object.revision.map { " at \($0.prefix(12))" } ?? "")))
        }
        fields.append(("Base directory", object.baseDirectory))
        let width = fields.map(\.0.count).max()! + 2
        var out = fields.map { ($0.0 + ":").padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n") + "\n"

        if let status = object.status, !status.counters.isEmpty {
            out += "Counters:\n"
            let order = ["desired", "present", "running", "ready", "unknown"]
            let keys = status.counters.keys.sorted { (order.firstIndex(of: $0) ?? order.count, $0) < (order.firstIndex(of: $1) ?? order.count, $1) }
            out += indented(Terminal.table([keys.map { $0.uppercased() }, keys.map { String(status.counters[$0]!) }]))
        }
        out += "Conditions:\n"
        if let status = object.status, !status.conditions.isEmpty {
            out += indented(Terminal.table([["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"]] + status.conditions.map {
                [$0.type, $0.status, $0.reason, ClientText.age(since: $0.lastTransitionTime, now: now), $0.message]
            }))
        } else {
            out += "  <none reported yet>\n"
        }
        if object.kind == ObjectKind.gitSource.rawValue {
            out += gitBlock(object.status?.git, owned: owned, now: now)
        }
        if object.kind == ObjectKind.vmSet.rawValue {
            out += "VMs:\n"
            out += vms.isEmpty ? "  <none>\n" : indented(Terminal.table([ClientText.vmHeader + ["MESSAGE"]] + vms.map { ClientText.vmRow($0, wide: false) + [$0.message ?? ""] }))
        }
        out += "Events:\n"
        out += events.isEmpty ? "  <none>\n" : indented(Terminal.table([["AGE", "TYPE", "REASON", "HOST", "MESSAGE"]] + events.map {
            [ClientText.age(since: $0.time, now: now), $0.type, $0.reason, $0.host ?? "", $0.message]
        }))
        out += "Manifest:\n" + indented(object.manifest.trimmingCharacters(in: .newlines))
        return out
    }

    /// A git source's revisions, syncs, errors and owned objects.
    static func gitBlock(_ git: APIGitSourceStatus?, owned: [APIObject], now: Date) -> String {
        guard let git else { return "Revisions:\n  <not synced yet>\n" }
        func time(_ date: Date?, _ suffix: String) -> String {
            date.map { "\(APIJSON.formatTime($0)) (\(ClientText.age(since: min($0, now), now: now)) \(suffix))" } ?? "-"
        }
        var rows: [(String, String)] = [
            ("Fetched", git.fetchedRevision ?? "-"),
            ("Applied", git.appliedRevision ?? "-"),
            ("Attempted", (git.attemptedRevision ?? "-") + (git.attemptError == nil ? "" : " (not applied)")),
            ("Last sync", time(git.lastSyncAt, "ago")),
            ("Next sync", git.nextSyncAt.map { "\(APIJSON.formatTime($0)) (in \(ClientText.age(since: now, now: max($0, now))))" } ?? "-"),
            ("Objects", String(git.objects)),
            ("Converged", git.converged ? "true" : "false" + (git.waitingFor.map { " (waiting for \($0.joined(separator: ", ")))" } ?? "")),
        ]
        if let error = git.attemptError { rows.append(("Error", error)) }
        let width = rows.map(\.0.count).max()! + 2
        var out = "Revisions:\n" + rows.map { "  " + ($0.0 + ":").padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n") + "\n"
        if let errors = git.errors, !errors.isEmpty {
            out += "Errors:\n" + errors.map { "  \($0.text)\n" }.joined()
        }
        out += "Owned objects:\n"
        out += owned.isEmpty ? "  <none>\n" : indented(Terminal.table([["KIND", "NAME", "REVISION", "STATUS"]] + owned.map {
            [$0.kind, $0.name, $0.revision.map { String($0.prefix(12)) } ?? "-", ClientText.state($0)]
        }))
        return out
    }

    static func indented(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n") + "\n"
    }
}

/// `KIND NAME` or `KIND/NAME` on the command line.
enum ObjectArguments {
    static func reference(_ kindWord: String, _ name: String?) throws -> ObjectReference {
        var word = kindWord, objectName = name
        if objectName == nil, let slash = kindWord.firstIndex(of: "/") {
            word = String(kindWord[..<slash])
            objectName = String(kindWord[kindWord.index(after: slash)...])
        }
        guard let kind = APIPaths.kind(word) else {
            throw ValidationError("unknown kind \"\(word)\": use vmset, template, host or gitsource")
        }
        guard let objectName, !objectName.isEmpty else {
            throw ValidationError("name the object: \(word) NAME, or \(word)/NAME")
        }
        return ObjectReference(kind: kind, name: objectName)
    }
}
