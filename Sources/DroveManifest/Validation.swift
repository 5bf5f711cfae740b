/// Checks that span objects and files: unique names within a kind, and references that resolve.
enum CrossValidation {
    struct Entry {
        var file: String
        var document: DecodedDocument
    }

    /// - Parameter checkReferences: false when some file could not be read to its end; a
    ///   reference to an object declared in the unread part would be reported wrongly.
    static func check(_ entries: [Entry], checkReferences: Bool) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        var declared: [ObjectReference: SourceLocation] = [:]
        for entry in entries {
            guard let reference = entry.document.reference else { continue }
            let here = SourceLocation(file: entry.file, line: entry.document.namePosition.line, column: entry.document.namePosition.column)
            if let first = declared[reference] {
                diagnostics.append(Diagnostic(
                    location: here, subject: reference.description, path: "metadata.name", code: .duplicateObject,
                    message: "\(reference.kind.rawValue) \(quoted(reference.name)) is already declared at \(first)"))
            } else {
                declared[reference] = here
            }
        }
        diagnostics += duplicateMACs(entries)
        guard checkReferences else { return diagnostics }

        let templates = declared.keys.filter { $0.kind == .template }.map(\.name).sorted()
        for entry in entries {
            guard let (name, position) = entry.document.templateReference, Names.isDNSLabel(name),
                  declared[ObjectReference(kind: .template, name: name)] == nil else { continue }
            var message = "Template \(quoted(name)) is not declared"
            if let close = closest(to: name, among: templates) {
                message += " (did you mean \"\(close)\"?)"
            } else if templates.isEmpty {
                message += " (no Template is declared)"
            }
            diagnostics.append(Diagnostic(
                location: SourceLocation(file: entry.file, line: position.line, column: position.column),
                subject: entry.document.subject.description, path: "spec.template", code: .templateNotDeclared, message: message))
        }
        return diagnostics
    }

    /// Every NIC of every replica has its own MAC across the manifests: a fixed one may not
    /// repeat another, and no two derived ones may meet (40 bits make that rare, not impossible).
    static func duplicateMACs(_ entries: [Entry]) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        var owners: [String: String] = [:]
        for entry in entries {
            guard case let .vmSet(set)? = entry.document.object else { continue }
            for (index, network) in set.spec.networks.enumerated() {
                for ordinal in 0..<(network.mac == nil ? set.spec.replicas : min(1, set.spec.replicas)) {
                    let vm = "\(set.metadata.name)-\(ordinal)"
                    let mac = MACAddress.of(network, set: set.metadata.name, ordinal: ordinal, nic: index)
                    let owner = "\(vm) NIC \(index)"
                    guard let first = owners[mac] else { owners[mac] = owner; continue }
                    let position = entry.document.networkPositions.indices.contains(index)
                        ? entry.document.networkPositions[index] : entry.document.namePosition
                    diagnostics.append(Diagnostic(
                        location: SourceLocation(file: entry.file, line: position.line, column: position.column),
                        subject: entry.document.subject.description, path: "spec.networks[\(index)].mac", code: .duplicateObject,
                        message: "\(owner) would have MAC \(mac), which \(first) already has\(network.mac == nil ? " (give one of them a fixed mac)" : "")"))
                }
            }
        }
        return diagnostics
    }
}
