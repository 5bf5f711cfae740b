/// An object a manifest declares, known by its kind and name alone.
public struct DeclaredObject: Sendable, Hashable {
    public var reference: ObjectReference
    /// Where its document starts, as `Manifest.origins` has it.
    public var location: SourceLocation

    public init(reference: ObjectReference, location: SourceLocation) {
        self.reference = reference
        self.location = location
    }
}

/// What manifests declare, read by kind and `metadata.name` only.
public struct Declarations: Sendable {
    /// In file order, then document order; an object declared twice is listed twice.
    public var objects: [DeclaredObject]
    /// Files that could not be read or composed within the limits, and documents without a
    /// valid kind or name.
    public var diagnostics: [Diagnostic]
}

extension ManifestLoader {
    /// The kind and name of every document in `files`, under the same size, depth and node
    /// limits as loading, and nothing else checked: no spec, no references, no policy. What
    /// `drove delete -f` needs, so a file can name what to delete even when the objects it
    /// refers to are gone or were never there.
    public static func declarations(in files: ManifestFiles) -> Declarations {
        var objects: [DeclaredObject] = []
        var diagnostics: [Diagnostic] = []
        var names: [String] = []
        for entry in files.entries {
            switch entry {
            case let .failed(diagnostic):
                names.append(diagnostic.location.file)
                diagnostics.append(diagnostic)
            case let .read(source):
                names.append(source.name)
                let composed = ComposedSource(source)
                for (root, reader) in composed.documents {
                    if let reference = reader.declaredReference(root) {
                        let start = root.mark.map(Position.init) ?? Position(line: 1, column: 1)
                        objects.append(DeclaredObject(
                            reference: reference, location: SourceLocation(file: source.name, line: start.line, column: start.column)))
                    }
                    diagnostics += reader.diagnostics
                }
                diagnostics += composed.diagnostics
            }
        }
        return Declarations(objects: objects, diagnostics: Diagnostic.inReadingOrder(diagnostics, files: names))
    }
}
