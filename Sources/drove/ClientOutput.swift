import ArgumentParser
import DroveAPI
import Foundation

/// `-o` of get.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case wide
    case yaml
    case json
}

/// How API objects read in tables and descriptions.
enum ClientText {
    /// Ages as kubectl writes them: `45s`, `3m12s`, `17m`, `5h3m`, `2d4h`, `40d`.
    static func age(since date: Date, now: Date = Date()) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        let minutes = seconds / 60, hours = minutes / 60, days = hours / 24
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<600: return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s"
        case ..<(3 * 3600): return "\(minutes)m"
        case ..<(8 * 3600): return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m"
        case ..<(2 * 86400): return "\(hours)h"
        case ..<(8 * 86400): return hours % 24 == 0 ? "\(days)d" : "\(days)d\(hours % 24)h"
        default: return "\(days)d"
        }
    }

    /// One word for where an object stands: `Ready`, `Progressing`, `Degraded`, `Deleting`, …
    static func state(_ object: APIObject) -> String {
        if object.deletionRequested { return "Deleting" }
        guard let status = object.status else { return "Pending" }
        if status.observedGeneration < object.generation { return "Progressing" }
        if status.condition("Degraded")?.status == "True" { return "Degraded" }
        if status.condition("Ready")?.status == "True" { return "Ready" }
        if status.condition("Progressing")?.status == "True" { return "Progressing" }
        return status.condition("Ready")?.reason ?? "Unknown"
    }

    /// The message of the condition that explains the state, if any.
    static func message(_ object: APIObject) -> String {
        guard let status = object.status else { return "" }
        for type in ["Degraded", "Ready", "Progressing"] {
            if let condition = status.condition(type), condition.status != (type == "Ready" ? "True" : "False"), !condition.message.isEmpty {
                return condition.message
            }
        }
        return ""
    }

    static func isReady(_ object: APIObject) -> Bool {
        !object.deletionRequested && state(object) == "Ready"
    }

    static func labels(_ labels: [String: String]) -> String {
        labels.isEmpty ? "<none>" : labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// `vmset/web`, as kubectl names objects.
    static func name(kind: String, _ name: String) -> String {
        "\(kind.lowercased())/\(name)"
    }

    // MARK: - Tables

    static func objectHeader(_ kind: String, wide: Bool) -> [String] {
        switch kind {
        case "VMSet": ["NAME", "DESIRED", "READY", "STATUS", "AGE"]
            + (wide ? ["OWNER", "TEMPLATE", "PRESENT", "RUNNING", "UPDATED", "READINESS", "GENERATION", "MESSAGE"] : [])
        case "Template": ["NAME", "FORMAT", "PATH", "HOSTS", "GOLDEN", "STATUS", "AGE"] + (wide ? ["OWNER", "VISIBILITY", "COPIES", "GENERATION", "LABELS"] : [])
        case "GitSource": ["NAME", "URL", "REF", "APPLIED REVISION", "READY", "AGE"]
            + (wide ? ["PATH", "OBJECTS", "CONVERGED", "LAST SYNC", "MESSAGE"] : [])
        default: ["NAME", "URI", "STATUS", "AGE"] + (wide ? ["POOL", "GENERATION", "LABELS", "MESSAGE"] : [])
        }
    }

    static func objectRow(_ object: APIObject, wide: Bool, now: Date = Date()) -> [String] {
        let summary = object.summary ?? [:]
        let counters = object.status?.counters ?? [:]
        let generation = "\(object.generation)/\(object.status.map { String($0.observedGeneration) } ?? "-")"
        switch object.kind {
        case "VMSet":
            let desired = counters["desired"].map(String.init) ?? summary["replicas"] ?? "-"
            let ready = "\(counters["ready"] ?? 0)/\(desired)"
            return [object.name, desired, ready, state(object), age(since: object.createdAt, now: now)]
                + (wide ? [object.owner ?? "-", summary["template"] ?? "-", counters["present"].map(String.init) ?? "-",
                           counters["running"].map(String.init) ?? "-", counters["updated"].map(String.init) ?? "-",
                           object.status?.readiness ?? "-", generation, message(object)] : [])
        case "Template":
            let copies = object.status?.hosts ?? [:]
            let present = "\(copies.values.filter { $0.state == "Present" }.count)/\(copies.count)"
            // Hosts holding a complete golden snapshot of it (`start: snapshot` sets resume from them).
            let golden = counters["golden"].map(String.init) ?? "-"
            return [object.name, summary["format"] ?? "-", summary["path"] ?? "-", copies.isEmpty ? "-" : present, golden, state(object),
                    age(since: object.createdAt, now: now)]
                + (wide ? [object.owner ?? "-", summary["visibility"] ?? "-", Self.copies(copies), generation, labels(object.labels)] : [])
        case "GitSource":
            return gitSourceRow(object, wide: wide, now: now)
        default:
            return [object.name, summary["uri"] ?? "-", state(object), age(since: object.createdAt, now: now)]
                + (wide ? [summary["pool"] ?? "-", generation, labels(object.labels), message(object)] : [])
        }
    }

    static func gitSourceRow(_ object: APIObject, wide: Bool, now: Date) -> [String] {
        let summary = object.summary ?? [:]
        let git = object.status?.git
        let ready = object.status?.condition("Ready")
        let applied = git?.appliedRevision.map { String($0.prefix(12)) } ?? "-"
        let row = [object.name, summary["url"] ?? "-", summary["ref"] ?? "-", applied, ready?.status ?? "-", age(since: object.createdAt, now: now)]
        guard wide else { return row }
        let objects = git.map { String($0.objects) } ?? "-"
        let converged = git.map { $0.converged ? "true" : "false" } ?? "-"
        let lastSync = git?.lastSyncAt.map { age(since: $0, now: now) + " ago" } ?? "-"
        return row + [summary["path"] ?? "-", objects, converged, lastSync, ready?.message ?? ""]
    }

    /// Each host's copy of a template: `node-1:Present node-2:Copying(45%, 80 MiB/s)`.
    static func copies(_ copies: [String: APITemplateCopy]) -> String {
        guard !copies.isEmpty else { return "-" }
        return copies.sorted { $0.key < $1.key }.map { host, copy in
            var detail: [String] = []
            if let percent = copy.percent, copy.state == "Copying" { detail.append("\(percent)%") }
            if let rate = copy.bytesPerSecond, copy.state == "Copying" { detail.append("\(Terminal.bytes(rate))/s") }
            return "\(host):\(copy.state)" + (detail.isEmpty ? "" : "(\(detail.joined(separator: ", ")))")
        }.joined(separator: " ")
    }

    static let vmHeader = ["NAME", "VMSET", "HOST", "PHASE", "READY"]
    static let vmWideHeader = ["ORDINAL", "TEMPLATE", "ADDRESSES", "MESSAGE"]

    static func vmRow(_ vm: VMSummary, wide: Bool) -> [String] {
        [vm.name, vm.vmSet, vm.host ?? "<none>", vm.phase.rawValue, vm.ready ? "true" : "false"]
            + (wide ? [String(vm.ordinal), vm.templateDigest.map { String($0.prefix(12)) } ?? "-",
                       vm.addresses.isEmpty ? "-" : vm.addresses.joined(separator: ","), vm.message ?? ""] : [])
    }

    static let eventHeader = ["AGE", "TYPE", "REASON", "OBJECT", "HOST", "BY", "MESSAGE"]

    /// `BY` is the user whose request caused the event; empty for the controller's own.
    static func eventRow(_ event: APIEvent, now: Date = Date()) -> [String] {
        [age(since: event.time, now: now), event.type, event.reason, name(kind: event.kind, event.name), event.host ?? "", event.actor ?? "",
         event.message]
    }

    // MARK: - JSON and YAML

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try APIJSON.encoder(pretty: true).encode(value), as: UTF8.self)
    }

    /// `value` as YAML, by way of its JSON: block style, strings quoted where YAML would read
    /// them as something else, multi-line strings as literal blocks.
    static func yaml(_ value: some Encodable) throws -> String {
        let tree = try JSONDecoder().decode(YAMLWriter.Value.self, from: try APIJSON.encoder().encode(value))
        var out = ""
        YAMLWriter.write(tree, indent: 0, into: &out)
        return out
    }
}

/// A small YAML emitter for JSON values.
enum YAMLWriter {
    indirect enum Value: Decodable {
        case null
        case bool(Bool)
        case int(Int64)
        case double(Double)
        case string(String)
        case array([Value])
        case object([(String, Value)])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Int64.self) { self = .int(value) }
            else if let value = try? container.decode(Double.self) { self = .double(value) }
            else if let value = try? container.decode(String.self) { self = .string(value) }
            else if let value = try? container.decode([Value].self) { self = .array(value) }
            else { self = .object(try container.decode([String: Value].self).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }) }
        }

        var isEmptyCollection: Bool {
            switch self {
            case let .array(elements): elements.isEmpty
            case let .object(fields): fields.isEmpty
            default: false
            }
        }
    }

    static func write(_ value: Value, indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case let .object(fields) where !fields.isEmpty:
            for (key, field) in fields {
                out += pad + scalar(key) + ":"
                tail(field, indent: indent, nestedIndent: indent + 2, into: &out)
            }
        case let .array(elements) where !elements.isEmpty:
            for element in elements {
                if case let .object(fields) = element, !fields.isEmpty {
                    // The first key on the dash's line, the others below it.
                    var nested = ""
                    write(element, indent: indent + 2, into: &nested)
                    out += pad + "- " + nested.dropFirst(indent + 2)
                } else {
                    out += pad + "-"
                    tail(element, indent: indent, nestedIndent: indent + 2, into: &out)
                }
            }
        default:
            out += pad + inline(value) + "\n"
        }
    }

    /// What follows `key:` or `-`: an inline value, a literal block, or a nested collection.
    private static func tail(_ value: Value, indent: Int, nestedIndent: Int, into out: inout String) {
        switch value {
        case .object, .array:
            if value.isEmptyCollection {
                out += " " + inline(value) + "\n"
            } else {
                out += "\n"
                // Sequences under a key may sit at the key's own indentation.
                if case .array = value { write(value, indent: indent, into: &out) } else { write(value, indent: nestedIndent, into: &out) }
            }
        case let .string(text) where text.contains("\n") && !text.hasPrefix(" ") && !text.contains("\r"):
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let body = text.hasSuffix("\n") ? lines.dropLast() : lines[...]
            out += " |" + (text.hasSuffix("\n") ? (text.hasSuffix("\n\n") ? "+" : "") : "-") + "\n"
            let pad = String(repeating: " ", count: nestedIndent)
            for line in body { out += line.isEmpty ? "\n" : pad + line + "\n" }
        default:
            out += " " + inline(value) + "\n"
        }
    }

    private static func inline(_ value: Value) -> String {
        switch value {
        case .null: "null"
        case let .bool(flag): flag ? "true" : "false"
        case let .int(number): String(number)
        case let .double(number): String(number)
        case let .string(text): scalar(text)
        case .array: "[]"
        case .object: "{}"
        }
    }

    /// A string as a plain scalar where that reads back as the same string, else double-quoted.
    static func scalar(_ text: String) -> String {
        let special: Set<String> = ["", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n"]
        let plainSafe = !special.contains(text.lowercased())
            && Double(text) == nil && Int(text) == nil
            && text.first.map { !"-?:,[]{}#&*!|>'\"%@` ".contains($0) } ?? false
            && text.last != " " && text.last != ":"
            && !text.contains(": ") && !text.contains(" #")
            && text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
        if plainSafe { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    quoted += "\\x" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2)
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
