/// A deterministic, JSON-like rendering of any value, built by reflection so that it covers
/// every stored property of DroveManifest's types without a hand-kept list that could miss a
/// field added later (a missed field would make a real spec change look `unchanged`).
///
/// Structs render as objects with sorted keys, dictionaries with sorted keys, optionals as the
/// value or `null`, enums with a raw value as that raw value. The rendering is the spec
/// fingerprint: equal renderings mean equal specs. It changes if DroveManifest renames a
/// property or adds one; the next apply of each object then bumps its generation once, which is
/// harmless (VMs are replaced on their own spec hash, not on the generation).
enum Canonical {
    static func render(_ value: Any) -> String {
        var out = ""
        write(value, to: &out)
        return out
    }

    private static func write(_ value: Any, to out: inout String) {
        switch value {
        case let text as String:
            out += quoted(text)
            return
        case let flag as Bool:
            out += flag ? "true" : "false"
            return
        case let number as any BinaryInteger:
            out += "\(number)"
            return
        case let number as Double:
            out += number.isFinite ? "\(number)" : quoted("\(number)")
            return
        default:
            break
        }
        if let raw = value as? any RawRepresentable {
            write(raw.rawValue, to: &out)
            return
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            if let wrapped = mirror.children.first { write(wrapped.value, to: &out) } else { out += "null" }
        case .dictionary:
            let entries = mirror.children.map { entry -> (key: String, value: Any) in
                let pair = Array(Mirror(reflecting: entry.value).children)
                return (render(pair[0].value), pair[1].value)
            }.sorted { $0.key < $1.key }
            out += "{"
            for (offset, entry) in entries.enumerated() {
                if offset > 0 { out += "," }
                out += entry.key + ":"
                write(entry.value, to: &out)
            }
            out += "}"
        case .collection, .tuple:
            out += "["
            for (offset, child) in mirror.children.enumerated() {
                if offset > 0 { out += "," }
                write(child.value, to: &out)
            }
            out += "]"
        case .set:
            let elements = mirror.children.map { render($0.value) }.sorted()
            out += "[" + elements.joined(separator: ",") + "]"
        case .enum:
            // An enum without a raw value: its case name, and its payload if any.
            let name = "\(value)".prefix { $0 != "(" }
            if let payload = mirror.children.first {
                out += "{" + quoted(String(name)) + ":"
                write(payload.value, to: &out)
                out += "}"
            } else {
                out += quoted(String(name))
            }
        default:
            // Structs and classes: stored properties by name, sorted.
            let fields = mirror.children.compactMap { child in child.label.map { ($0, child.value) } }
                .sorted { $0.0 < $1.0 }
            out += "{"
            for (offset, field) in fields.enumerated() {
                if offset > 0 { out += "," }
                out += quoted(field.0) + ":"
                write(field.1, to: &out)
            }
            out += "}"
        }
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
