import DroveManifest

extension AppliedObject {
    /// Pairs every object of `manifest` with the YAML document it came from, ready to `apply`.
    ///
    /// `manifest` must have been loaded from `sources` (with `ManifestLoader.load(sources:)`).
    /// Each source is cut into documents at its `---` and `...` marker lines (a marker at the
    /// start of a line always ends a YAML document, even inside a block scalar), each object
    /// is matched to the document holding its origin line, and then every such document is
    /// loaded again on its own and must give back an equal object, so a stored text always
    /// loads into what was applied.
    ///
    /// `policy` is the one `manifest` was loaded under: a blob's file depends on its template store.
    ///
    /// - Throws: `StoreError.documentNotFound` when an object's source is missing or its
    ///   document does not load back into an equal object.
    public static func objects(in manifest: Manifest, sources: [ManifestSource],
                               policy: ManifestPolicy = .anyConfiguration) throws(StoreError) -> [AppliedObject] {
        let objects = DesiredObject.all(in: manifest)
        let byName = Dictionary(sources.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var documents: [String: [Substring]] = [:]
        var applied: [AppliedObject] = []
        var pieces: [ManifestSource] = []
        var claimed: [String: ObjectReference] = [:]
        for object in objects {
            let reference = object.reference
            guard let origin = manifest.origins[reference] else {
                throw .documentNotFound(reference, reason: "the manifest has no origin for it")
            }
            guard let source = byName[origin.file] else {
                throw .documentNotFound(reference, reason: "no source named \"\(origin.file)\" was given")
            }
            if documents[source.name] == nil {
                guard let text = String(validating: source.bytes, as: UTF8.self) else {
                    throw .documentNotFound(reference, reason: "\(source.name) is not valid UTF-8")
                }
                documents[source.name] = YAMLDocuments.split(text)
            }
            let split = documents[source.name]!
            guard let index = YAMLDocuments.index(ofLine: origin.line, in: split) else {
                throw .documentNotFound(reference, reason: "\(origin) is past the end of \(source.name)")
            }
            let pieceName = "\(source.name)#\(index + 1)"
            if let other = claimed[pieceName] {
                throw .documentNotFound(reference, reason: "it shares document \(index + 1) of \(source.name) with \(other)")
            }
            claimed[pieceName] = reference
            let text = String(split[index])
            pieces.append(ManifestSource(name: pieceName, text: text, baseDirectory: source.baseDirectory))
            applied.append(AppliedObject(object: object, manifestText: text, baseDirectory: source.baseDirectory))
        }

        // Load the cut documents again, together (a VMSet's Template is in another one).
        let result = ManifestLoader(policy: policy).check(sources: pieces)
        guard let reloaded = result.manifest else {
            let culprit = result.diagnostics.first.flatMap { claimed[$0.location.file] }
            throw .documentNotFound(culprit ?? applied[0].reference, reason: "its document does not load on its own: "
                + result.diagnostics.map(\.description).joined(separator: "; "))
        }
        let again = Dictionary(DesiredObject.all(in: reloaded).map { ($0.reference, $0) }, uniquingKeysWith: { first, _ in first })
        for object in applied where again[object.reference] != object.object {
            throw .documentNotFound(object.reference, reason: "its document, cut out of its source, loads into a different object")
        }
        return applied
    }
}

/// Cutting a YAML stream into its documents by marker lines.
enum YAMLDocuments {
    /// The documents of `text`, in order; joined they are `text` again. A document starts at the
    /// start of the text, at a `---` line (with any `%` directive lines just above it), or after
    /// a `...` line.
    static func split(_ text: String) -> [Substring] {
        let scalars = text.unicodeScalars
        var lineStarts: [String.Index] = [scalars.startIndex]
        var index = scalars.startIndex
        while let newline = scalars[index...].firstIndex(of: "\n") {
            index = scalars.index(after: newline)
            lineStarts.append(index)
        }
        let lines = lineStarts.indices.map { number -> Substring in
            let end = number + 1 < lineStarts.count ? scalars.index(before: lineStarts[number + 1]) : scalars.endIndex
            return Substring(scalars[lineStarts[number]..<end])
        }

        var starts: Set<Int> = [0]
        for (number, line) in lines.enumerated() {
            if isMarker(line, "---") {
                var start = number
                while start > 0, lines[start - 1].hasPrefix("%") { start -= 1 }
                starts.insert(start)
            } else if isMarker(line, "..."), number + 1 < lines.count {
                starts.insert(number + 1)
            }
        }
        let ordered = starts.sorted()
        return ordered.indices.map { position in
            let from = lineStarts[ordered[position]]
            let to = position + 1 < ordered.count ? lineStarts[ordered[position + 1]] : scalars.endIndex
            return Substring(scalars[from..<to])
        }
    }

    /// The document holding 1-based line `line`.
    static func index(ofLine line: Int, in documents: [Substring]) -> Int? {
        var first = 1
        for (index, document) in documents.enumerated() {
            let newlines = document.unicodeScalars.reduce(0) { $1 == "\n" ? $0 + 1 : $0 }
            let lines = newlines + (document.unicodeScalars.last == "\n" ? 0 : 1)
            if line < first + lines { return index }
            first += lines
        }
        return nil
    }

    /// `---` or `...` at the start of a line, followed by the end of the line or a blank.
    private static func isMarker(_ line: Substring, _ marker: String) -> Bool {
        guard line.hasPrefix(marker) else { return false }
        let rest = line.unicodeScalars.dropFirst(3)
        return rest.isEmpty || rest.first == " " || rest.first == "\t" || rest.first == "\r"
    }
}
