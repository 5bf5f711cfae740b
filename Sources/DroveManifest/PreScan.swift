/// A problem found before composing: refused without handing the text to libyaml/Yams.
struct PreScanProblem: Error, Equatable {
    var line: Int
    var column: Int
    var code: DiagnosticCode
    var message: String
    /// Over the request's budget (`RequestTally`), not a limit of the file itself.
    var ofRequest = false
}

/// A conservative lexical pass over the raw text that refuses what could make composing or
/// walking blow up, before Yams sees it:
/// - nesting deeper than `maxDepth` (Yams composes recursively and could overflow the stack);
/// - an alias inside an anchored collection: chains of those nest and multiply without bound
///   (the "billion laughs" alias bomb), and even freeing such a tree recurses once per level;
/// - a collection, complex (`?`) or alias mapping key: Yams hashes every mapping key to find
///   duplicates, and an aliased key can stand for millions of nodes. Drove keys are strings;
/// - a document with more than `maxNodes` scalars, collections and aliases: it would be refused
///   after composing anyway, and composing millions of nodes takes seconds;
/// - a file of more than `maxDocuments` documents or `maxFileNodes` nodes in all: each document
///   costs its composing, decoding and diagnostics, so 4 MiB of `a: 1\n---\n` (466,000
///   documents) would take seconds and a gigabyte while every document stays small.
///
/// It counts flow brackets outside quotes and comments, and block levels by indentation; block
/// scalars are skipped. Where YAML is ambiguous to a lexer this small it errs towards counting
/// more, never less.
struct PreScan {
    private let bytes: [UInt8]
    private let maxDepth: Int
    private let maxNodes: Int
    private let maxDocuments: Int
    private let maxFileNodes: Int
    /// Scalars, flow collections and aliases seen in this document: fewer than it will compose to.
    private var nodes = 0
    /// The same over the whole file.
    private var fileNodes = 0
    /// Documents begun so far: explicitly by `---`, or implicitly by content outside any.
    private var documents = 0
    private var inDocument = false
    private var index = 0
    private var line = 1
    private var column = 1
    private var flowDepth = 0
    /// Indentation columns of the open block collections.
    private var blockLevels: [Int] = []
    /// Open anchored collections: inside one, an alias is refused.
    private var anchoredScopes: [AnchorScope] = []

    /// Where an anchored collection ends.
    private enum AnchorScope: Equatable {
        /// When flow depth drops back to `depth`.
        case flow(depth: Int)
        /// At a line indented left of `column`, or at it without starting with `- ` (a block
        /// sequence may sit at its key's column); column 0 lasts to the end of the document.
        case afterKey(column: Int)
        /// At a line indented left of `column` (the anchor opened the line, or followed `- `).
        case block(column: Int)
    }
    /// The column of the key whose `:` was last seen on this line, if any.
    private var keyColumnOnLine: Int?
    private var afterDocumentMarker = false
    /// What the files scanned before this one counted, when several files make one request.
    private let request: RequestTally

    /// Documents and nodes over the files of one request (an API call), against its own limits:
    /// each file within its limits, many files could still add up to any amount of work.
    struct RequestTally {
        var documents = 0
        var nodes = 0
        let maxDocuments: Int
        let maxNodes: Int

        static var unlimited: RequestTally { RequestTally(maxDocuments: .max, maxNodes: .max) }
    }

    static func check(_ bytes: [UInt8], maxDepth: Int, maxNodes: Int, maxDocuments: Int, maxFileNodes: Int) -> PreScanProblem? {
        var request = RequestTally.unlimited
        return check(bytes, maxDepth: maxDepth, maxNodes: maxNodes, maxDocuments: maxDocuments, maxFileNodes: maxFileNodes, request: &request)
    }

    /// The same, counting on from `request`, to which it adds what this file holds (up to the
    /// problem, if there is one: a lower bound, so later files are still counted fairly).
    static func check(_ bytes: [UInt8], maxDepth: Int, maxNodes: Int, maxDocuments: Int, maxFileNodes: Int,
                      request: inout RequestTally) -> PreScanProblem? {
        var scan = PreScan(bytes: bytes, maxDepth: maxDepth, maxNodes: maxNodes, maxDocuments: maxDocuments, maxFileNodes: maxFileNodes,
                           request: request)
        defer {
            request.documents += scan.documents
            request.nodes += scan.fileNodes
        }
        do {
            try scan.run()
            return nil
        } catch {
            return error
        }
    }

    private init(bytes: [UInt8], maxDepth: Int, maxNodes: Int, maxDocuments: Int, maxFileNodes: Int, request: RequestTally) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
        self.maxDocuments = maxDocuments
        self.maxFileNodes = maxFileNodes
        self.request = request
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    }

    // MARK: Lexing

    private mutating func run() throws(PreScanProblem) {
        var atLineStart = true
        while index < bytes.count {
            if atLineStart {
                atLineStart = false
                try lineStart()
                continue
            }
            let byte = bytes[index]
            if isBreak(at: index) {
                consumeBreak()
                atLineStart = true
                continue
            }
            if startsNode(byte) {
                nodes += 1
                if nodes > maxNodes {
                    throw PreScanProblem(line: line, column: column, code: .tooLarge, message: "document has more than \(maxNodes) nodes; refusing it")
                }
                fileNodes += 1
                if fileNodes > maxFileNodes {
                    throw PreScanProblem(line: line, column: column, code: .tooLarge,
                                         message: "file has more than \(maxFileNodes) nodes; refusing it (split it into several files)")
                }
                if request.nodes + fileNodes > request.maxNodes {
                    throw PreScanProblem(line: line, column: column, code: .tooLarge,
                                         message: "the request's files have more than \(request.maxNodes) nodes in all; refusing it (send them in several requests)",
                                         ofRequest: true)
                }
            }
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: ","):
                advance()
            case UInt8(ascii: "#"):
                skipToEndOfLine()
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                flowDepth += 1
                try checkDepth()
                advance()
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                let (keyLine, keyColumn) = (line, column)
                flowDepth = max(0, flowDepth - 1)
                anchoredScopes.removeAll { if case let .flow(depth) = $0 { depth >= flowDepth } else { false } }
                advance()
                if followedByMappingColon() {
                    throw PreScanProblem(line: keyLine, column: keyColumn, code: .unsupportedYAML, message: "a list or mapping used as a mapping key; keys must be plain strings")
                }
            case UInt8(ascii: "\""):
                try skipQuoted(double: true)
            case UInt8(ascii: "'"):
                try skipQuoted(double: false)
            case UInt8(ascii: "&"):
                let anchorColumn = column
                advance()
                skipAnchorName()
                openAnchorScopeIfCollection(anchorColumn: anchorColumn)
            case UInt8(ascii: "!"):
                skipTag()
            case UInt8(ascii: "*"):
                try alias()
            case UInt8(ascii: "|") where flowDepth == 0, UInt8(ascii: ">") where flowDepth == 0:
                skipBlockScalar()
            case UInt8(ascii: "?") where isBlankOrEnd(at: index + 1):
                throw PreScanProblem(line: line, column: column, code: .unsupportedYAML, message: "complex mapping keys (\"? \") are not supported; keys must be plain strings")
            case UInt8(ascii: "-") where flowDepth == 0 && isBlankOrEnd(at: index + 1):
                advance()
                try sequenceEntry()
            case UInt8(ascii: ":") where isBlankOrEnd(at: index + 1) || flowDepth > 0:
                if flowDepth == 0 { keyColumnOnLine = blockLevels.last }
                advance()
            default:
                skipPlainScalar()
            }
        }
    }

    /// Measures indentation and opens or closes block levels.
    private mutating func lineStart() throws(PreScanProblem) {
        var indent = 0
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") {
            advance()
            indent += 1
        }
        guard index < bytes.count, !isBreak(at: index), bytes[index] != UInt8(ascii: "#") else { return }
        keyColumnOnLine = nil
        afterDocumentMarker = false
        // Inside a flow collection, line breaks and indentation mean nothing.
        guard flowDepth == 0 else { return }
        if indent == 0, isDocumentMarker(at: index) {
            if bytes[index] == UInt8(ascii: "-") {
                try beginDocument()
            } else {
                inDocument = false
            }
            blockLevels.removeAll()
            anchoredScopes.removeAll()
            nodes = 0
            afterDocumentMarker = true
            advance(by: 3)
            return
        }
        if !inDocument { try beginDocument() }
        let column = indent + 1
        let startsEntry = bytes[index] == UInt8(ascii: "-") && isBlankOrEnd(at: index + 1)
        anchoredScopes.removeAll { scope in
            switch scope {
            case .flow: false
            case let .afterKey(start): start > 0 && (column < start || (column == start && !startsEntry))
            case let .block(start): start > 0 && column < start
            }
        }
        try openBlockLevel(at: column, popping: true)
    }

    /// A document starts: at `---`, or at content after `...` or at the top of the file.
    private mutating func beginDocument() throws(PreScanProblem) {
        inDocument = true
        documents += 1
        if documents > maxDocuments {
            throw PreScanProblem(line: line, column: column, code: .tooLarge,
                                 message: "file has more than \(maxDocuments) documents; refusing it (split it into several files)")
        }
        if request.documents + documents > request.maxDocuments {
            throw PreScanProblem(line: line, column: column, code: .tooLarge,
                                 message: "the request's files have more than \(request.maxDocuments) documents in all; refusing it (send them in several requests)",
                                 ofRequest: true)
        }
    }

    /// Opens a block level at `column` (1-based), first closing the levels at or right of it.
    private mutating func openBlockLevel(at column: Int, popping: Bool) throws(PreScanProblem) {
        if popping {
            while let last = blockLevels.last, last >= column { blockLevels.removeLast() }
        }
        if blockLevels.last.map({ $0 < column }) ?? true { blockLevels.append(column) }
        try checkDepth()
    }

    /// After `- `: the entry's content opens a level at its own column (`- - a` nests twice).
    private mutating func sequenceEntry() throws(PreScanProblem) {
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") { advance() }
        guard index < bytes.count, !isBreak(at: index) else { return }
        switch bytes[index] {
        case UInt8(ascii: "#"), UInt8(ascii: "|"), UInt8(ascii: ">"): return
        default: try openBlockLevel(at: column, popping: false)
        }
    }

    private mutating func checkDepth() throws(PreScanProblem) {
        let depth = blockLevels.count + flowDepth
        if depth > maxDepth {
            throw PreScanProblem(line: line, column: column, code: .tooDeep, message: "nesting deeper than \(maxDepth) levels; refusing to parse")
        }
    }

    /// `&name` (and maybe a tag) directly before a collection: a flow one on this line, or a
    /// block one on the lines below.
    private mutating func openAnchorScopeIfCollection(anchorColumn: Int) {
        var probe = skipSpaces(from: index)
        if probe < bytes.count, bytes[probe] == UInt8(ascii: "!") {
            while probe < bytes.count, !isBlankOrEnd(at: probe) { probe += 1 }
            probe = skipSpaces(from: probe)
        }
        let opensFlow = probe < bytes.count && (bytes[probe] == UInt8(ascii: "[") || bytes[probe] == UInt8(ascii: "{"))
        let endsLine = probe >= bytes.count || isBreak(at: probe) || bytes[probe] == UInt8(ascii: "#")
        if opensFlow || (endsLine && flowDepth > 0) {
            anchoredScopes.append(.flow(depth: flowDepth))
        } else if endsLine {
            if afterDocumentMarker {
                anchoredScopes.append(.block(column: 0))
            } else if let key = keyColumnOnLine {
                anchoredScopes.append(.afterKey(column: key))
            } else {
                anchoredScopes.append(.block(column: anchorColumn))
            }
        }
    }

    private mutating func alias() throws(PreScanProblem) {
        let (aliasLine, aliasColumn) = (line, column)
        if !anchoredScopes.isEmpty {
            throw PreScanProblem(
                line: aliasLine, column: aliasColumn, code: .unsupportedYAML,
                message: "an alias inside an anchored collection is not allowed (it lets aliases nest and multiply, as in an alias bomb); aliases may only refer to anchored nodes that contain no aliases")
        }
        advance()
        skipAnchorName()
        if followedByMappingColon() {
            throw PreScanProblem(line: aliasLine, column: aliasColumn, code: .unsupportedYAML, message: "an alias used as a mapping key; keys must be plain strings")
        }
    }

    // MARK: Skipping

    private mutating func skipQuoted(double: Bool) throws(PreScanProblem) {
        let quote = bytes[index]
        advance()
        while index < bytes.count {
            let byte = bytes[index]
            if isBreak(at: index) {
                consumeBreak()
            } else if double, byte == UInt8(ascii: "\\") {
                advance()
                if index < bytes.count, !isBreak(at: index) { advance() }
            } else if byte == quote {
                advance()
                // '' is an escaped quote inside a single-quoted scalar.
                if !double, index < bytes.count, bytes[index] == quote { advance(); continue }
                return
            } else {
                advance()
            }
        }
    }

    /// A plain scalar ends at `: `, ` #` or the line end; in flow context also at `,[]{}`.
    private mutating func skipPlainScalar() {
        advance()
        while index < bytes.count, !isBreak(at: index) {
            let byte = bytes[index]
            if byte == UInt8(ascii: ":"), isBlankOrEnd(at: index + 1) || (flowDepth > 0 && isFlowIndicator(at: index + 1)) { return }
            if byte == UInt8(ascii: "#"), index > 0, bytes[index - 1] == UInt8(ascii: " ") || bytes[index - 1] == UInt8(ascii: "\t") { return }
            if flowDepth > 0, isFlowIndicator(at: index) { return }
            advance()
        }
    }

    /// The header line, then every line that is blank or indented deeper than the enclosing
    /// block collection (or, at the top level, up to a document marker).
    private mutating func skipBlockScalar() {
        let parent = blockLevels.last
        skipToEndOfLine()
        while index < bytes.count {
            guard isBreak(at: index) else { return }
            let afterBreak = index + breakLength(at: index)
            var probe = afterBreak
            var indent = 0
            while probe < bytes.count, bytes[probe] == UInt8(ascii: " ") { probe += 1; indent += 1 }
            let blank = probe >= bytes.count || isBreak(at: probe)
            let inside: Bool
            if let parent {
                inside = blank || indent + 1 > parent
            } else {
                inside = blank || !(indent == 0 && isDocumentMarker(at: probe))
            }
            guard inside else { return }
            consumeBreak()
            skipToEndOfLine()
        }
    }

    private mutating func skipAnchorName() {
        while index < bytes.count, isAnchorCharacter(bytes[index]) { advance() }
    }

    private mutating func skipTag() {
        while index < bytes.count, !isBlankOrEnd(at: index), !(flowDepth > 0 && isFlowIndicator(at: index)) { advance() }
    }

    private mutating func skipToEndOfLine() {
        while index < bytes.count, !isBreak(at: index) { advance() }
    }

    // MARK: Looking

    /// Whether a token starting with `byte` is a node of its own (a scalar, flow collection or
    /// alias) rather than whitespace, a comment, an indicator, an anchor or a tag.
    private func startsNode(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: ","), UInt8(ascii: "#"), UInt8(ascii: "]"), UInt8(ascii: "}"),
             UInt8(ascii: "&"), UInt8(ascii: "!"):
            return false
        case UInt8(ascii: "-"), UInt8(ascii: "?"), UInt8(ascii: ":"):
            return !(isBlankOrEnd(at: index + 1) || (byte == UInt8(ascii: ":") && flowDepth > 0))
        default:
            return true
        }
    }

    private func skipSpaces(from position: Int) -> Int {
        var probe = position
        while probe < bytes.count, bytes[probe] == UInt8(ascii: " ") || bytes[probe] == UInt8(ascii: "\t") { probe += 1 }
        return probe
    }

    /// After a node: optional spaces, then `:` that is a mapping-value indicator.
    private func followedByMappingColon() -> Bool {
        let probe = skipSpaces(from: index)
        guard probe < bytes.count, bytes[probe] == UInt8(ascii: ":") else { return false }
        return isBlankOrEnd(at: probe + 1) || flowDepth > 0
    }

    private func isDocumentMarker(at position: Int) -> Bool {
        guard position + 3 <= bytes.count else { return false }
        let marker = bytes[position..<position + 3]
        guard marker.elementsEqual("---".utf8) || marker.elementsEqual("...".utf8) else { return false }
        return isBlankOrEnd(at: position + 3)
    }

    private func isBlankOrEnd(at position: Int) -> Bool {
        position >= bytes.count || bytes[position] == UInt8(ascii: " ") || bytes[position] == UInt8(ascii: "\t") || isBreak(at: position)
    }

    private func isFlowIndicator(at position: Int) -> Bool {
        guard position < bytes.count else { return false }
        switch bytes[position] {
        case UInt8(ascii: ","), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"): return true
        default: return false
        }
    }

    /// libyaml's anchor characters: letters, digits, `_` and `-`.
    private func isAnchorCharacter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }

    private func isBreak(at position: Int) -> Bool { breakLength(at: position) > 0 }

    /// libyaml's line breaks: CR LF, CR, LF, NEL, LS and PS.
    private func breakLength(at position: Int) -> Int {
        guard position < bytes.count else { return 0 }
        switch bytes[position] {
        case 0x0A: return 1
        case 0x0D: return position + 1 < bytes.count && bytes[position + 1] == 0x0A ? 2 : 1
        case 0xC2: return position + 1 < bytes.count && bytes[position + 1] == 0x85 ? 2 : 0
        case 0xE2:
            return position + 2 < bytes.count && bytes[position + 1] == 0x80 && (bytes[position + 2] == 0xA8 || bytes[position + 2] == 0xA9) ? 3 : 0
        default: return 0
        }
    }

    // MARK: Moving

    private mutating func advance(by count: Int = 1) {
        for _ in 0..<count where index < bytes.count {
            // Columns count Unicode scalars, as libyaml's do: skip UTF-8 continuation bytes.
            if bytes[index] & 0xC0 != 0x80 { column += 1 }
            index += 1
        }
    }

    private mutating func consumeBreak() {
        index += breakLength(at: index)
        line += 1
        column = 1
    }
}
