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
    public var message: String

    public init(location: SourceLocation, subject: String, path: String, message: String) {
        self.location = location
        self.subject = subject
        self.path = path
        self.message = message
    }

    public var description: String {
        path.isEmpty
            ? "\(location): \(subject): \(message)"
            : "\(location): \(subject): \(path): \(message)"
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
