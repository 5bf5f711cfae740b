import Foundation
import Yams

/// Manifest text from somewhere other than a file: standard input, an HTTP body, a test.
public struct ManifestSource: Sendable {
    /// How diagnostics name it: a path, or `<stdin>`.
    public var name: String
    public var bytes: [UInt8]
    /// Relative template paths resolve against this directory.
    public var baseDirectory: String

    public init(name: String, bytes: [UInt8], baseDirectory: String) {
        self.name = name
        self.bytes = bytes
        self.baseDirectory = baseDirectory
    }

    public init(name: String, text: String, baseDirectory: String) {
        self.init(name: name, bytes: Array(text.utf8), baseDirectory: baseDirectory)
    }
}

/// The outcome of loading: a manifest, or every diagnostic found.
public struct LoadResult: Sendable {
    /// Nil whenever there is a diagnostic.
    public var manifest: Manifest?
    public var diagnostics: [Diagnostic]
    /// The files read, as named in diagnostics, in reading order.
    public var files: [String]
    /// What is valid but will not work as things stand (a network no declared host offers).
    public var warnings: [Diagnostic] = []
}

/// Reads drove/v1 manifests strictly: unknown fields, duplicate keys, wrong types, missing or
/// out-of-range values, bad names, unknown kinds, duplicate names and dangling references are
/// all errors, and all of them are reported at once, each with its position.
public struct ManifestLoader: Sendable {
    public static let standardInputName = "<stdin>"

    /// Relative paths, and templates read from standard input, resolve against this directory.
    public var workingDirectory: String
    /// Which host URIs and files the manifests may name.
    public var policy: ManifestPolicy

    public init(workingDirectory: String = FileManager.default.currentDirectoryPath, policy: ManifestPolicy = .standard) {
        self.workingDirectory = workingDirectory
        self.policy = policy
    }

    /// Loads files, directories (every `*.yaml` and `*.yml` below them, hidden ones skipped, in
    /// sorted order) and `-` for standard input.
    public func load(paths: [String]) throws(ManifestError) -> Manifest {
        try Self.unwrap(check(paths: paths))
    }

    public func load(sources: [ManifestSource]) throws(ManifestError) -> Manifest {
        try Self.unwrap(check(sources: sources))
    }

    /// Loads one YAML text; `name` names it in diagnostics.
    public func load(yaml: String, name: String = "<string>", baseDirectory: String? = nil) throws(ManifestError) -> Manifest {
        try load(sources: [ManifestSource(name: name, text: yaml, baseDirectory: baseDirectory ?? workingDirectory)])
    }

    /// Like `load(paths:)`, but returns the diagnostics instead of throwing them.
    public func check(paths: [String]) -> LoadResult {
        check(ManifestFiles.read(paths, workingDirectory: workingDirectory))
    }

    /// Checks files read beforehand; those that could not be read are reported in their place.
    public func check(_ files: ManifestFiles) -> LoadResult {
        var session = LoadSession(policy: policy)
        for entry in files.entries {
            switch entry {
            case let .read(source): session.read(source)
            case let .failed(diagnostic): session.fail(diagnostic)
            }
        }
        return session.finish()
    }

    /// Like `load(sources:)`, but returns the diagnostics instead of throwing them.
    public func check(sources: [ManifestSource]) -> LoadResult {
        var session = LoadSession(policy: policy)
        for source in sources { session.read(source) }
        return session.finish()
    }

    private static func unwrap(_ result: LoadResult) throws(ManifestError) -> Manifest {
        guard let manifest = result.manifest else { throw ManifestError(diagnostics: result.diagnostics) }
        return manifest
    }
}

/// One load: files read in order, then checked together.
private struct LoadSession {
    let policy: ManifestPolicy
    var files: [String] = []
    var entries: [CrossValidation.Entry] = []
    var diagnostics: [Diagnostic] = []
    /// Some file could not be read to its end, so the set of declared objects is incomplete.
    var incomplete = false

    mutating func fail(_ diagnostic: Diagnostic) {
        if !files.contains(diagnostic.location.file) { files.append(diagnostic.location.file) }
        incomplete = true
        diagnostics.append(diagnostic)
    }

    mutating func read(_ source: ManifestSource) {
        files.append(source.name)
        let composed = ComposedSource(source)
        for (root, reader) in composed.documents {
            let document = ObjectDecoder(reader: reader, baseDirectory: source.baseDirectory, policy: policy).decode(root)
            entries.append(CrossValidation.Entry(file: source.name, document: document))
            diagnostics += reader.diagnostics
        }
        diagnostics += composed.diagnostics
        if composed.incomplete { incomplete = true }
    }

    func finish() -> LoadResult {
        let all = Diagnostic.inReadingOrder(diagnostics + CrossValidation.check(entries, checkReferences: !incomplete), files: files)
        guard all.isEmpty else { return LoadResult(manifest: nil, diagnostics: all, files: files) }

        var manifest = Manifest()
        for entry in entries {
            guard let object = entry.document.object, let reference = entry.document.reference else { continue }
            switch object {
            case let .host(host): manifest.hosts.append(host)
            case let .template(template): manifest.templates.append(template)
            case let .vmSet(vmSet): manifest.vmSets.append(vmSet)
            case let .gitSource(source): manifest.gitSources.append(source)
            }
            manifest.origins[reference] = SourceLocation(file: entry.file, line: entry.document.start.line, column: entry.document.start.column)
        }
        return LoadResult(manifest: manifest, diagnostics: [], files: files, warnings: warnings(manifest))
    }

    /// A NIC on a network or bridge that none of the declared hosts its set may use offers
    /// (only when hosts are declared: sets are often applied apart from them).
    private func warnings(_ manifest: Manifest) -> [Diagnostic] {
        guard !manifest.hosts.isEmpty else { return [] }
        var warnings: [Diagnostic] = []
        for entry in entries {
            guard case let .vmSet(set)? = entry.document.object else { continue }
            let eligible = manifest.hosts.filter { set.spec.placement.hostSelector.matches($0.metadata.labels) }
            for (index, network) in set.spec.networks.enumerated() where network.type != .user {
                guard !eligible.contains(where: { $0.spec.offers(network) }) else { continue }
                let position = entry.document.networkPositions.indices.contains(index) ? entry.document.networkPositions[index] : entry.document.start
                let what = network.type == .network ? "network" : "bridge"
                warnings.append(Diagnostic(
                    location: SourceLocation(file: entry.file, line: position.line, column: position.column),
                    subject: entry.document.subject.description, path: "spec.networks[\(index)].source", code: .networkNotOffered,
                    message: "no host this set may use offers the \(what) \(quoted(network.source ?? "")) (list it in a Host's spec.\(what)s); its VMs cannot be placed"))
            }
        }
        return warnings
    }
}

extension ManifestLoader {
    /// The files of one request (`drove serve`'s apply and plan) over the request's budget of
    /// documents and nodes (`ManifestLimits.maxDocumentsPerRequest`, `maxNodesPerRequest`),
    /// counted by the same pre-scan as each file's: the diagnostic at the document or node
    /// that goes over, in the file where the sum does; nil within the budget. A file's own
    /// problems are left to loading, which reports them.
    public static func requestBudgetProblem(_ sources: [ManifestSource]) -> Diagnostic? {
        var tally = PreScan.RequestTally(maxDocuments: ManifestLimits.maxDocumentsPerRequest, maxNodes: ManifestLimits.maxNodesPerRequest)
        for source in sources where source.bytes.count <= ManifestLimits.maxFileSize {
            let problem = PreScan.check(source.bytes, maxDepth: ManifestLimits.maxDepth, maxNodes: ManifestLimits.maxNodesPerDocument,
                                        maxDocuments: ManifestLimits.maxDocumentsPerFile, maxFileNodes: ManifestLimits.maxNodesPerFile,
                                        request: &tally)
            if let problem, problem.ofRequest {
                return .file(source.name, problem.code, problem.message, at: Position(line: problem.line, column: problem.column))
            }
        }
        return nil
    }
}

/// One source's documents, composed within the size, depth and node limits: where loading and
/// listing what a file declares both start.
struct ComposedSource {
    /// The documents within the limits (empty ones left out), each with the reader that reports
    /// its problems.
    var documents: [(root: Node, reader: DocumentReader)] = []
    /// Problems with the file, or with a document as a whole.
    var diagnostics: [Diagnostic] = []
    /// The file could not be read to its end: documents after the problem are missing.
    var incomplete = false

    init(_ source: ManifestSource) {
        if source.bytes.count > ManifestLimits.maxFileSize {
            fail(.file(source.name, .tooLarge, FileReading.tooLarge(source.bytes.count)))
            return
        }
        guard let text = String(validating: source.bytes, as: UTF8.self) else {
            fail(.file(source.name, .syntax, "not valid UTF-8 (manifests must be UTF-8)", at: FileReading.firstInvalidUTF8(source.bytes)))
            return
        }
        if let problem = PreScan.check(source.bytes, maxDepth: ManifestLimits.maxDepth, maxNodes: ManifestLimits.maxNodesPerDocument,
                                       maxDocuments: ManifestLimits.maxDocumentsPerFile, maxFileNodes: ManifestLimits.maxNodesPerFile) {
            fail(.file(source.name, problem.code, problem.message, at: Position(line: problem.line, column: problem.column)))
            return
        }
        let composed = Composer.compose(text)
        for root in composed.documents {
            // Empty documents (nothing, or only comments, between markers) are allowed.
            if case .scalar = root, root.tagName == .null { continue }
            let reader = DocumentReader(file: source.name, renamedKeys: composed.renamedKeys)
            let start = root.mark.map(Position.init) ?? Position(line: 1, column: 1)
            switch NodeBudget.check(root, maxNodes: ManifestLimits.maxNodesPerDocument, maxDepth: ManifestLimits.maxDepth) {
            case .within:
                documents.append((root, reader))
            case .tooManyNodes:
                reader.subject = ObjectDecoder.peekSubject(root)
                reader.report(at: start, FieldPath(), .tooLarge, "document has more than \(ManifestLimits.maxNodesPerDocument) nodes once aliases are expanded; refusing it")
                diagnostics += reader.diagnostics
            case .tooDeep:
                reader.subject = ObjectDecoder.peekSubject(root)
                reader.report(at: start, FieldPath(), .tooDeep, "document nests deeper than \(ManifestLimits.maxDepth) levels once aliases are expanded; refusing it")
                diagnostics += reader.diagnostics
            }
        }
        if let failure = composed.failure {
            fail(.file(source.name, failure.code, failure.message, at: failure.position))
        }
    }

    private mutating func fail(_ diagnostic: Diagnostic) {
        diagnostics.append(diagnostic)
        incomplete = true
    }
}

extension Diagnostic {
    /// Sorted by file, in reading order, then by position within each; ties keep their order.
    static func inReadingOrder(_ diagnostics: [Diagnostic], files: [String]) -> [Diagnostic] {
        let order = Dictionary(files.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return diagnostics.enumerated().sorted { lhs, rhs in
            let l = lhs.element.location, r = rhs.element.location
            let key1 = (order[l.file] ?? Int.max, l.line, l.column), key2 = (order[r.file] ?? Int.max, r.line, r.column)
            return key1 != key2 ? key1 < key2 : lhs.offset < rhs.offset
        }.map(\.element)
    }
}
