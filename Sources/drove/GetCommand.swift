import ArgumentParser
import DroveAPI
import DroveClient
import DroveManifest
import Foundation

/// `drove get vmsets|vms|templates|hosts|gitsources|events|controllers [NAME]`: tables of what the controller holds.
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "List VM sets, VMs, templates, hosts, git sources, events or controller replicas from the running controller.",
        discussion: """
            RESOURCE is vmsets, vms, templates, hosts, gitsources, events or controllers (singular works too). With NAME, \
            only that object (for vms: the VMs of that VM set; for events: the events of that VM \
            set). -o wide adds columns; -o yaml and -o json print the API's objects. --watch \
            keeps printing rows as they change, until interrupted.
            """)

    enum Resource: String, CaseIterable {
        case vmsets, vms, templates, hosts, gitsources, events, controllers

        init?(word: String) {
            switch word.lowercased() {
            case "vmsets", "vmset": self = .vmsets
            case "vms", "vm": self = .vms
            case "templates", "template": self = .templates
            case "hosts", "host": self = .hosts
            case "gitsources", "gitsource": self = .gitsources
            case "events", "event": self = .events
            case "controllers", "controller": self = .controllers
            default: return nil
            }
        }

        var kind: ObjectKind? {
            switch self {
            case .vmsets: .vmSet
            case .templates: .template
            case .hosts: .host
            case .gitsources: .gitSource
            case .vms, .events, .controllers: nil
            }
        }
    }

    @Argument(help: ArgumentHelp("vmsets, vms, templates, hosts, gitsources, events or controllers.", valueName: "resource"),
              completion: .list(Resource.allCases.map(\.rawValue)))
    var resourceWord: String

    @Argument(help: "One object's name (for vms and events: a VM set's).")
    var name: String?

    @Option(name: .shortAndLong, help: "Output format: table, wide, yaml or json.")
    var output: OutputFormat = .table

    @Flag(name: .shortAndLong, help: "After listing, print rows again as they change, until interrupted.")
    var watch = false

    @Option(help: "For events: how many of the newest to show.")
    var tail: Int = 50

    @OptionGroup var connection: ClientOptions

    var resource: Resource { Resource(word: resourceWord)! }

    func validate() throws {
        guard Resource(word: resourceWord) != nil else {
            throw ValidationError("unknown resource \"\(resourceWord)\": use vmsets, vms, templates, hosts, gitsources, events or controllers")
        }
        if resource == .controllers, watch || name != nil {
            throw ValidationError("controllers are listed whole, without --watch")
        }
        if tail < 1 { throw ValidationError("--tail must be at least 1") }
        if watch, output == .yaml || output == .json, resource != .events {
            throw ValidationError("--watch prints table rows; use -o table or -o wide with it")
        }
    }

    func run() async throws {
        try await reportingClientErrors {
            let client = try connection.client()
            let wide = output == .wide
            switch resource {
            case .vmsets, .templates, .hosts, .gitsources:
                let kind = resource.kind!
                let objects = try await Self.objects(kind, name: name, client: client)
                try print(objects: objects, kind: kind, single: name != nil, wide: wide)
                if watch { try await watchObjects(kind, client: client, wide: wide, shown: objects) }
            case .vms:
                let vms = try await client.vms(of: name)
                try printVMs(vms, wide: wide)
                if watch { try await watchVMs(client: client, wide: wide, shown: vms) }
            case .controllers:
                try printControllers(try await client.controllers())
            case .events:
                let list = try await client.events(of: name.map { ObjectReference(kind: .vmSet, name: $0) }, tail: tail)
                try printEvents(list.items)
                if watch { try await watchEvents(client: client, after: list.next) }
            }
        }
    }

    // MARK: - Reading

    static func objects(_ kind: ObjectKind, name: String?, client: APIClient) async throws(ClientError) -> [APIObject] {
        if let name {
            return [try await client.object(ObjectReference(kind: kind, name: name))]
        }
        return try await client.objects(kind)
    }

    // MARK: - Printing

    func print(objects: [APIObject], kind: ObjectKind, single: Bool, wide: Bool) throws {
        switch output {
        case .json:
            Swift.print(single ? try ClientText.json(objects[0]) : try ClientText.json(APIObjectList(items: objects)))
        case .yaml:
            Swift.print(single ? try ClientText.yaml(objects[0]) : try ClientText.yaml(APIObjectList(items: objects)), terminator: "")
        case .table, .wide:
            if objects.isEmpty {
                Terminal.status("No \(APIPaths.segment(kind)) found.")
                if !watch { return }
            }
            let now = Date()
            Swift.print(Terminal.table([ClientText.objectHeader(kind.rawValue, wide: wide)] + objects.map { ClientText.objectRow($0, wide: wide, now: now) }))
        }
    }

    func printVMs(_ vms: [VMSummary], wide: Bool) throws {
        switch output {
        case .json: Swift.print(try ClientText.json(APIVMList(items: vms)))
        case .yaml: Swift.print(try ClientText.yaml(APIVMList(items: vms)), terminator: "")
        case .table, .wide:
            if vms.isEmpty {
                Terminal.status(name.map { "No VMs of VM set \($0) found." } ?? "No VMs found.")
                if !watch { return }
            }
            Swift.print(Terminal.table([ClientText.vmHeader + (wide ? ClientText.vmWideHeader : [])] + vms.map { ClientText.vmRow($0, wide: wide) }))
        }
    }

    func printControllers(_ list: APIControllerList) throws {
        switch output {
        case .json: Swift.print(try ClientText.json(list))
        case .yaml: Swift.print(try ClientText.yaml(list), terminator: "")
        case .table, .wide:
            let now = Date()
            let rows = list.items.map { replica in
                [replica.id, replica.leader ? "leader" : "follower", replica.address, ClientText.age(since: replica.startedAt, now: now),
                 String(format: "%.1fs ago", replica.lastSeenSecondsAgo)]
            }
            Swift.print(Terminal.table([["ID", "ROLE", "ADDRESS", "AGE", "LAST SEEN"]] + rows))
            if let leader = list.leader {
                let age = list.leaseAgeSeconds.map { String(format: ", renewed %.1fs ago", $0) } ?? ""
                Terminal.status("Leader: \(leader) (lease changed hands \(list.leaseTransitions ?? 0) times\(age)).")
            } else {
                Terminal.status("No replica leads right now: the lease ran out and none has taken it yet.")
            }
        }
    }

    func printEvents(_ events: [APIEvent]) throws {
        switch output {
        case .json: Swift.print(try ClientText.json(APIEventList(items: events, next: events.last?.id ?? 0)))
        case .yaml: Swift.print(try ClientText.yaml(APIEventList(items: events, next: events.last?.id ?? 0)), terminator: "")
        case .table, .wide:
            if events.isEmpty {
                Terminal.status("No events found.")
                if !watch { return }
            }
            let now = Date()
            Swift.print(Terminal.table([ClientText.eventHeader] + events.map { ClientText.eventRow($0, now: now) }))
        }
    }

    // MARK: - Watching

    /// Prints the row of each object of `kind` (named `name`, if set) whenever it changes.
    func watchObjects(_ kind: ObjectKind, client: APIClient, wide: Bool, shown: [APIObject]) async throws {
        let header = ClientText.objectHeader(kind.rawValue, wide: wide)
        // What each object's row last said, its age left out: a change that shows nothing new
        // (a status written again, the age alone) prints nothing.
        let age = header.firstIndex(of: "AGE")
        func content(_ row: [String]) -> [String] {
            var row = row
            if let age, age < row.count { row.remove(at: age) }
            return row
        }
        var printed = Dictionary(shown.map { ($0.name, content(ClientText.objectRow($0, wide: wide))) }, uniquingKeysWith: { $1 })
        for try await message in client.watch() {
            guard let (changedKind, changedName) = message.object, changedKind == kind.rawValue,
                  name == nil || changedName == name, message.event != "event" else { continue }
            let reference = ObjectReference(kind: kind, name: changedName)
            guard let object = try await client.objectIfPresent(reference) else {
                guard printed.removeValue(forKey: changedName) != nil else { continue }
                Swift.print(Terminal.table([header, [changedName, "<deleted>"]]).split(separator: "\n").last.map(String.init) ?? changedName)
                fflush(nil)
                continue
            }
            let row = ClientText.objectRow(object, wide: wide)
            guard printed[changedName] != content(row) else { continue }
            printed[changedName] = content(row)
            // Aligned with the header's columns, as far as the widths allow.
            Swift.print(Terminal.table([header, row]).split(separator: "\n").last.map(String.init) ?? "")
            fflush(nil)
        }
    }

    /// Prints a VM set's VM rows whenever its status changes.
    func watchVMs(client: APIClient, wide: Bool, shown: [VMSummary]) async throws {
        let header = ClientText.vmHeader + (wide ? ClientText.vmWideHeader : [])
        var printed = Dictionary(shown.map { ($0.name, ClientText.vmRow($0, wide: wide)) }, uniquingKeysWith: { $1 })
        for try await message in client.watch() where message.event == "status" {
            guard let (kind, set) = message.object, kind == ObjectKind.vmSet.rawValue, name == nil || set == name else { continue }
            let vms = try await client.vms(of: set)
            let changed = vms.map { ($0.name, ClientText.vmRow($0, wide: wide)) }.filter { printed[$0.0] != $0.1 }
            guard !changed.isEmpty else { continue }
            for (name, row) in changed { printed[name] = row }
            for line in Terminal.table([header] + changed.map(\.1)).split(separator: "\n").dropFirst() { Swift.print(line) }
            fflush(nil)
        }
    }

    func watchEvents(client: APIClient, after: Int64) async throws {
        for try await message in client.watch(after: after) where message.event == "event" {
            guard let event = message.decode(APIEvent.self), name == nil || (event.kind == ObjectKind.vmSet.rawValue && event.name == name) else { continue }
            switch output {
            case .json: Swift.print(String(decoding: try APIJSON.encoder().encode(event), as: UTF8.self))
            case .yaml: Swift.print("---\n" + (try ClientText.yaml(event)), terminator: "")
            case .table, .wide: Swift.print(Terminal.table([ClientText.eventHeader, ClientText.eventRow(event)]).split(separator: "\n").last.map(String.init) ?? "")
            }
            fflush(nil)
        }
    }
}
