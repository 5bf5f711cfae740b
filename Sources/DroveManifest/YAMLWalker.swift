import Yams

/// A dotted field path such as `spec.resources.memory`; keys that are not plain words (label
/// keys like `example.com/role`) are written `labels["example.com/role"]`.
struct FieldPath: CustomStringConvertible {
    var components: [String] = []

    func appending(_ key: String) -> FieldPath {
        FieldPath(components: components + [key])
    }

    /// The path of a list's element: `spec.networks[1]`.
    func appending(index: Int) -> FieldPath {
        FieldPath(components: components + ["[\(index)]"])
    }

    var description: String {
        var out = ""
        for component in components {
            if component.hasPrefix("["), component.dropFirst().dropLast().allSatisfy(\.isNumber) {
                out += component
                continue
            }
            let plain = component.count <= 64 && component.first.map { $0.isASCII && $0.isLetter } == true
                && component.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
            if plain {
                out += out.isEmpty ? component : ".\(component)"
            } else {
                out += "[\(quoted(component))]"
            }
        }
        return out
    }
}

/// The checked entries of one YAML mapping.
struct Fields {
    let node: Node
    let path: FieldPath
    fileprivate(set) var entries: [String: (key: Node, value: Node)] = [:]

    subscript(key: String) -> Node? { entries[key]?.value }
}

/// Reads one YAML document into typed values. Every accessor records what is wrong and returns
/// nil, so a caller reads on and the document's problems are all found in one pass.
final class DocumentReader {
    let file: String
    /// Earlier occurrences of duplicated keys, renamed by the composer (see `ComposedText`).
    let renamedKeys: [Position: String]
    var subject = Subject()
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String, renamedKeys: [Position: String]) {
        self.file = file
        self.renamedKeys = renamedKeys
    }

    func report(_ node: Node, _ path: FieldPath, _ code: DiagnosticCode, _ message: String) {
        report(at: node.mark.map(Position.init) ?? Position(line: 1, column: 1), path, code, message)
    }

    func report(at position: Position, _ path: FieldPath, _ code: DiagnosticCode, _ message: String) {
        diagnostics.append(Diagnostic(
            location: SourceLocation(file: file, line: position.line, column: position.column),
            subject: subject.description, path: path.description, code: code, message: message))
    }

    // MARK: Mappings

    /// The entries of a mapping whose keys must come from `allowed` (any string key when nil).
    func fields(_ node: Node, _ path: FieldPath, allowed: [String]?) -> Fields? {
        guard case let .mapping(mapping) = node else {
            report(node, path, .wrongType, "expected a mapping, got \(describe(node))")
            return nil
        }
        var fields = Fields(node: node, path: path)
        var firstSeen: [String: Position] = [:]
        for (key, value) in mapping {
            let position = key.mark.map(Position.init) ?? Position(line: 1, column: 1)
            if let original = renamedKeys[position] {
                firstSeen[original] = firstSeen[original] ?? position
                continue
            }
            guard case let .scalar(scalar) = key, key.tagName == .str || key.tagName == .merge else {
                var message = "mapping keys must be strings, got \(describe(key))"
                if case let .scalar(scalar) = key, key.tagName != .null { message += " (quote it: \(quoted(scalar.string)))" }
                report(key, path, .wrongType, message)
                continue
            }
            let name = scalar.string
            if let first = firstSeen[name] ?? fields.entries[name]?.key.mark.map(Position.init) {
                report(key, path.appending(name), .duplicateKey, "duplicate key \(quoted(name)) (first at line \(first.line), column \(first.column))")
            }
            if let allowed, !allowed.contains(name) {
                report(key, path.appending(name), name == "<<" ? .unsupportedYAML : .unknownField, unknownField(name, allowed: allowed))
                continue
            }
            fields.entries[name] = (key, value)
        }
        return fields
    }

    private func unknownField(_ name: String, allowed: [String]) -> String {
        if name == "<<" {
            return "merge keys (<<) are not supported; write the fields out"
        }
        if let close = closest(to: name, among: allowed) {
            return "unknown field \(quoted(name)) (did you mean \"\(close)\"?)"
        }
        return "unknown field \(quoted(name)) (allowed: \(allowed.joined(separator: ", ")))"
    }

    /// A required field: reported at the start of its mapping when missing.
    func required(_ fields: Fields, _ key: String) -> Node? {
        if let node = fields[key] { return node }
        report(fields.node, fields.path.appending(key), .missingField, "required field is missing")
        return nil
    }

    /// A nested mapping, if present and well-formed.
    func section(_ fields: Fields, _ key: String, allowed: [String], required isRequired: Bool = false) -> Fields? {
        guard let node = isRequired ? required(fields, key) : fields[key] else { return nil }
        return self.fields(node, fields.path.appending(key), allowed: allowed)
    }

    // MARK: Scalars

    func string(_ fields: Fields, _ key: String, required isRequired: Bool = false) -> String? {
        guard let node = isRequired ? required(fields, key) : fields[key] else { return nil }
        return string(node, fields.path.appending(key))
    }

    func string(_ node: Node, _ path: FieldPath) -> String? {
        guard case let .scalar(scalar) = node, node.tagName == .str else {
            var message = "expected a string, got \(describe(node))"
            if case let .scalar(scalar) = node, node.tagName != .null { message += " (quote it: \(quoted(scalar.string)))" }
            report(node, path, .wrongType, message)
            return nil
        }
        return scalar.string
    }

    func nonEmptyString(_ fields: Fields, _ key: String, required isRequired: Bool = false) -> String? {
        guard let value = string(fields, key, required: isRequired) else { return nil }
        if value.isEmpty {
            report(fields[key]!, fields.path.appending(key), .invalidValue, "must not be empty")
            return nil
        }
        return value
    }

    func integer(_ fields: Fields, _ key: String, in range: ClosedRange<Int>, required isRequired: Bool = false) -> Int? {
        guard let node = isRequired ? required(fields, key) : fields[key] else { return nil }
        let path = fields.path.appending(key)
        guard case let .scalar(scalar) = node, node.tagName == .int else {
            if case let .scalar(scalar) = node, node.tagName == .str, Int(scalar.string) != nil {
                report(node, path, .wrongType, "expected an integer, got the string \(quoted(scalar.string)) (remove the quotes)")
            } else {
                report(node, path, .wrongType, "expected an integer, got \(describe(node))")
            }
            return nil
        }
        guard isDecimalInteger(scalar.string), let value = Int(scalar.string) else {
            report(node, path, .invalidValue, "expected a decimal integer, got \(shortened(scalar.string))")
            return nil
        }
        guard range.contains(value) else {
            report(node, path, .outOfRange, "\(value) is out of range \(range.lowerBound)..\(range.upperBound)")
            return nil
        }
        return value
    }

    /// An integer field's value if it is one, reporting nothing (its own accessor does that).
    func peekInteger(_ fields: Fields, _ key: String) -> Int? {
        guard let node = fields[key], case let .scalar(scalar) = node, node.tagName == .int else { return nil }
        return Int(scalar.string)
    }

    func number(_ fields: Fields, _ key: String, in range: ClosedRange<Double>) -> Double? {
        guard let node = fields[key] else { return nil }
        let path = fields.path.appending(key)
        guard case let .scalar(scalar) = node, node.tagName == .int || node.tagName == .float else {
            if case let .scalar(scalar) = node, node.tagName == .str, Double(scalar.string) != nil {
                report(node, path, .wrongType, "expected a number, got the string \(quoted(scalar.string)) (remove the quotes)")
            } else {
                report(node, path, .wrongType, "expected a number, got \(describe(node))")
            }
            return nil
        }
        guard isDecimalNumber(scalar.string), let value = Double(scalar.string) else {
            report(node, path, .invalidValue, "expected a decimal number, got \(shortened(scalar.string))")
            return nil
        }
        guard range.contains(value) else {
            report(node, path, .outOfRange, "\(shortened(scalar.string)) is out of range \(format(range.lowerBound))..\(format(range.upperBound))")
            return nil
        }
        return value
    }

    /// `true` or `false`; YAML 1.1's other booleans (`yes`, `on`, …) are refused, being easy to
    /// write by mistake.
    func bool(_ fields: Fields, _ key: String) -> Bool? {
        guard let node = fields[key] else { return nil }
        let path = fields.path.appending(key)
        guard case let .scalar(scalar) = node, node.tagName == .bool, ["true", "false"].contains(scalar.string.lowercased()) else {
            var message = "expected true or false, got \(describe(node))"
            if case let .scalar(scalar) = node, node.tagName == .str, ["true", "false"].contains(scalar.string.lowercased()) {
                message += " (remove the quotes)"
            }
            report(node, path, .wrongType, message)
            return nil
        }
        return scalar.string.lowercased() == "true"
    }

    /// A duration such as `30s`, `1m` or `1h30m`, in seconds within `range`.
    func duration(_ fields: Fields, _ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let node = fields[key], let text = string(node, fields.path.appending(key)) else { return nil }
        guard let seconds = DurationText.parse(text) else {
            report(node, fields.path.appending(key), .invalidValue, "\(quoted(text)) is not a duration (use e.g. 30s, 1m, 1h30m)")
            return nil
        }
        guard range.contains(seconds) else {
            report(node, fields.path.appending(key), .outOfRange,
                   "\(quoted(text)) is out of range \(DurationText.format(seconds: range.lowerBound))..\(DurationText.format(seconds: range.upperBound))")
            return nil
        }
        return seconds
    }

    func choice<Choice: RawRepresentable & CaseIterable>(_ fields: Fields, _ key: String, _ type: Choice.Type) -> Choice?
    where Choice.RawValue == String {
        guard let node = fields[key], let text = string(node, fields.path.appending(key)) else { return nil }
        if let value = Choice(rawValue: text) { return value }
        let names = Choice.allCases.map(\.rawValue)
        var message = "\(quoted(text)) is not one of \(names.joined(separator: ", "))"
        if let close = closest(to: text, among: names) { message += " (did you mean \"\(close)\"?)" }
        report(node, fields.path.appending(key), .invalidValue, message)
        return nil
    }

    func quantity(_ fields: Fields, _ key: String, in range: ClosedRange<UInt64>) -> UInt64? {
        guard let node = fields[key] else { return nil }
        let path = fields.path.appending(key)
        guard case let .scalar(scalar) = node, [.str, .int, .float].contains(node.tagName) else {
            report(node, path, .wrongType, "expected a quantity such as 512Mi, got \(describe(node))")
            return nil
        }
        let bytes: UInt64
        do {
            bytes = try Quantity.parse(scalar.string)
        } catch {
            report(node, path, .invalidValue, Quantity.explain(scalar.string, error))
            return nil
        }
        guard range.contains(bytes) else {
            report(node, path, .outOfRange, "\(shortened(scalar.string)) is out of range \(Quantity.format(range.lowerBound))..\(Quantity.format(range.upperBound))")
            return nil
        }
        return bytes
    }

    /// The elements of a list, with their paths; nil (reported) when it is not a list.
    func list(_ fields: Fields, _ key: String, maxCount: Int) -> [(node: Node, path: FieldPath)]? {
        guard let node = fields[key] else { return nil }
        let path = fields.path.appending(key)
        guard case let .sequence(sequence) = node else {
            report(node, path, .wrongType, "expected a list, got \(describe(node))")
            return nil
        }
        guard sequence.count <= maxCount else {
            report(node, path, .outOfRange, "\(sequence.count) entries; at most \(maxCount) are allowed")
            return nil
        }
        return sequence.enumerated().map { ($0.element, path.appending(index: $0.offset)) }
    }

    /// A list of names matching `isValid` (explained by `rule`), each at most once.
    func names(_ fields: Fields, _ key: String, maxCount: Int, isValid: (String) -> Bool, rule: String) -> [String]? {
        guard let elements = list(fields, key, maxCount: maxCount) else { return nil }
        var names: [String] = []
        var valid = true
        for (node, path) in elements {
            guard let name = string(node, path) else { valid = false; continue }
            if !isValid(name) {
                report(node, path, .invalidValue, "\(quoted(name)) is not a valid name: \(rule)")
                valid = false
            } else if names.contains(name) {
                report(node, path, .duplicateKey, "\(quoted(name)) is listed twice")
                valid = false
            }
            names.append(name)
        }
        return valid ? names : nil
    }

    /// A label map: label keys to label values, both strings.
    func labels(_ fields: Fields, _ key: String) -> [String: String]? {
        guard let node = fields[key], let map = self.fields(node, fields.path.appending(key), allowed: nil) else { return nil }
        var labels: [String: String] = [:]
        var valid = true
        for (name, entry) in map.entries.sorted(by: { $0.key < $1.key }) {
            let path = map.path.appending(name)
            if !Names.isLabelKey(name) {
                report(entry.key, path, .invalidName, "\(quoted(name)) is not a valid label key: \(Names.labelKeyRule)")
                valid = false
            }
            guard let value = string(entry.value, path) else { valid = false; continue }
            if !Names.isLabelValue(value) {
                report(entry.value, path, .invalidName, "\(quoted(value)) is not a valid label value: \(Names.labelValueRule)")
                valid = false
            }
            labels[name] = value
        }
        return valid ? labels : nil
    }

    // MARK: Helpers

    private func isDecimalInteger(_ text: String) -> Bool {
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber } && (digits == "0" || digits.first != "0")
    }

    private func isDecimalNumber(_ text: String) -> Bool {
        text.allSatisfy { $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) } && text.contains(where: \.isNumber)
    }
}

/// How a node looks to the user: `a mapping`, `integer 3`, `string "3"`, `null`.
func describe(_ node: Node) -> String {
    switch node {
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .alias: return "an alias"
    case let .scalar(scalar):
        switch node.tagName {
        case .null: return "null"
        case .bool: return "boolean \(shortened(scalar.string))"
        case .int: return "integer \(shortened(scalar.string))"
        case .float: return "number \(shortened(scalar.string))"
        case .str: return "string \(quoted(scalar.string))"
        case .timestamp: return "timestamp \(shortened(scalar.string))"
        default: return "a value tagged \(shortened(node.tagName.rawValue))"
        }
    }
}

/// At most 64 characters of `text`: a diagnostic quotes values, and a value can be megabytes.
func shortened(_ text: String) -> String {
    text.unicodeScalars.count <= 64 ? text : String(String.UnicodeScalarView(text.unicodeScalars.prefix(60))) + "…"
}

/// `text`, shortened, in double quotes, with quotes, backslashes and control characters escaped.
func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in shortened(text).unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// `4.0` as `4`, `0.1` as `0.1`.
func format(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}

/// The candidate a typo most likely meant: same letters ignoring case, or at most two edits away.
func closest(to word: String, among candidates: [String]) -> String? {
    if let same = candidates.first(where: { $0.lowercased() == word.lowercased() }) { return same }
    let scored = candidates.map { ($0, editDistance($0.lowercased(), word.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= min(2, max(1, word.count / 3)) else { return nil }
    return best.0
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

extension Node {
    /// The resolved tag: what a plain scalar means (`3` is an int, `"3"` a string).
    var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }
}
