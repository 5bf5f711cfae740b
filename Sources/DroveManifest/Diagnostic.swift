/// A position in a manifest file; line and column are 1-based, columns count Unicode scalars
/// (as libyaml does).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// What kind of problem a diagnostic reports: programs (the API server, its clients) branch on
/// the code, never on the message's wording, which is for people and may change.
public enum DiagnosticCode: String, Sendable, Hashable, CaseIterable {
    /// A path that cannot be read: missing, not readable, a directory without manifests.
    case unreadable
    /// A file over the size limit, or a document with more nodes than the limit.
    case tooLarge
    /// A document nested deeper than the limit.
    case tooDeep
    /// Text that is not YAML, or not UTF-8.
    case syntax
    /// Valid YAML that Drove refuses: an alias inside an anchored collection, a key that is an
    /// alias, a collection or complex, a merge key.
    case unsupportedYAML
    /// A mapping key written twice.
    case duplicateKey
    /// A field the mapping does not have.
    case unknownField
    /// A required field that is absent (also one that another field's value requires).
    case missingField
    /// A value of the wrong YAML type: a string for an integer, a list for a mapping, null.
    case wrongType
    /// A number or quantity outside its range.
    case outOfRange
    /// A value of the right type that means nothing here: not one of an enum's values, not a
    /// quantity, empty, an unsupported apiVersion, a field that another field's value rules out.
    case invalidValue
    /// An object name, a Template name in a reference, a label key or a label value that breaks
    /// its syntax.
    case invalidName
    /// A `kind` that is not Host, Template or VMSet.
    case unknownKind
    /// A kind and name declared a second time.
    case duplicateObject
    /// A VM set naming a Template that no manifest declares.
    case templateNotDeclared
    /// Refused by what Drove may reach: a host URI off the allow-list, a template file outside
    /// the directories the operator named.
    case refusedByPolicy
    /// Stored manifests that no longer hold the objects their rows name (the store's own check).
    case storeMismatch
    /// A warning: a VM set's network or bridge is offered by none of the hosts it may use.
    case networkNotOffered
}

/// One problem found in the manifests, rendered as
/// `file:line:column: Kind/name: field.path: what is wrong`.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public var location: SourceLocation
    /// What the problem is about, as far as it is known: `VMSet/web`, `VMSet/<unnamed>`,
    /// `<unknown kind>/web` or `<unknown kind>` (file-level problems such as YAML syntax errors).
    public var subject: String
    /// The dotted field path (`spec.resources.memory`); empty when the problem concerns the whole
    /// document or file, and then left out of the rendering.
    public var path: String
    public var code: DiagnosticCode
    public var message: String

    public init(location: SourceLocation, subject: String, path: String, code: DiagnosticCode, message: String) {
        self.location = location
        self.subject = subject
        self.path = path
        self.code = code
        self.message = message
    }

    public var description: String {
        path.isEmpty
            ? "\(location): \(subject): \(message)"
            : "\(location): \(subject): \(path): \(message)"
    }
}

extension Diagnostic {
    /// A problem with a whole file (unreadable, too large, not YAML): no object or field to name.
    static func file(_ file: String, _ code: DiagnosticCode, _ message: String, at position: Position = Position(line: 1, column: 1)) -> Diagnostic {
        Diagnostic(location: SourceLocation(file: file, line: position.line, column: position.column),
                   subject: Subject.unknownKind, path: "", code: code, message: message)
    }
}

/// Everything wrong with a set of manifests, all at once.
public struct ManifestError: Error, Sendable, Equatable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    /// One diagnostic per line, in file order.
    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}

/// The `Kind/name` a diagnostic is about, built up as the walker learns it.
struct Subject: Sendable, Equatable {
    static let unknownKind = "<unknown kind>"

    var kind: String?
    var name: String?

    var description: String {
        let kind = kind.map(shortened), name = name.map(shortened)
        return switch (kind, name) {
        case let (kind?, name?): "\(kind)/\(name)"
        case let (kind?, nil): "\(kind)/<unnamed>"
        case let (nil, name?): "\(Subject.unknownKind)/\(name)"
        case (nil, nil): Subject.unknownKind
        }
    }
}
