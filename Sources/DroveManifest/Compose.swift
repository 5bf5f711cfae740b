import Yams

/// A position as Yams reports it, usable as a dictionary key.
struct Position: Hashable, Comparable {
    var line: Int
    var column: Int

    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    init(_ mark: Mark) {
        self.init(line: mark.line, column: mark.column)
    }

    static func < (lhs: Position, rhs: Position) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }
}

/// The documents of one file, composed with Yams.
struct ComposedText {
    var documents: [Node] = []
    /// Mapping keys that Yams found duplicated: each earlier occurrence was renamed in place (to
    /// characters of Unicode's private use area, same length, so no position moves) and composed
    /// again, so that the walker can report the duplicate at its later occurrence and go on.
    var renamedKeys: [Position: String] = [:]
    /// A YAML error that ended the file: everything after it is unread.
    var failure: (position: Position, code: DiagnosticCode, message: String)?
}

enum Composer {
    /// At most this many duplicate keys are recovered from per file, and no more text than this
    /// is composed again for them in total; past either, the duplicate ends the file.
    static let maxRecoveredDuplicates = 32
    static let recoveryByteBudget = 16 << 20

    static func compose(_ text: String) -> ComposedText {
        var text = text
        var result = ComposedText()
        var budget = recoveryByteBudget
        while true {
            result.documents = []
            do {
                let parser = try Parser(yaml: text, resolver: .default, constructor: .default, encoding: .utf8)
                while let document = try parser.nextRoot() {
                    result.documents.append(document)
                }
                return result
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                let key = duplicates.first ?? ""
                let position = Position(context.mark)
                budget -= text.utf8.count
                if result.renamedKeys.count < maxRecoveredDuplicates, budget >= 0,
                   let renamed = renameKey(key, at: position, in: text, serial: result.renamedKeys.count) {
                    text = renamed
                    result.renamedKeys[position] = key
                    continue
                }
                let reason = result.renamedKeys.count < maxRecoveredDuplicates && budget >= 0
                    ? "" : " (too many duplicate keys in this file to read on)"
                result.failure = (position, .duplicateKey, "duplicate key \(quoted(key))\(reason)")
                return result
            } catch let error as YamlError {
                result.failure = describe(error, in: text)
                return result
            } catch {
                result.failure = (Position(line: 1, column: 1), .syntax, "cannot read YAML: \(error)")
                return result
            }
        }
    }

    /// `text` with the key at `position` replaced by as many private-use characters, or nil when
    /// the key is not spelled there verbatim (escapes, block scalars), so it cannot be done safely.
    static func renameKey(_ key: String, at position: Position, in text: String, serial: Int) -> String? {
        let scalars = Array(text.unicodeScalars)
        guard let start = TextPositions.offset(of: position, in: scalars) else { return nil }
        let keyScalars = Array(key.unicodeScalars)
        guard !keyScalars.isEmpty else { return nil }
        var keyStart = start
        if start < scalars.count, scalars[start] == "\"" || scalars[start] == "'" {
            let quote = scalars[start]
            keyStart = start + 1
            let end = keyStart + keyScalars.count
            guard end < scalars.count, scalars[end] == quote else { return nil }
        }
        guard keyStart + keyScalars.count <= scalars.count,
              Array(scalars[keyStart..<keyStart + keyScalars.count]) == keyScalars else { return nil }
        var patched = scalars
        for offset in 0..<keyScalars.count {
            // U+E000 plus the serial keeps each renamed key distinct from the others.
            let value = offset == 0 ? 0xE000 + UInt32(serial) : 0xE000
            patched[keyStart + offset] = Unicode.Scalar(value)!
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: patched)
        return String(view)
    }

    static func describe(_ error: YamlError, in text: String) -> (position: Position, code: DiagnosticCode, message: String) {
        func context(_ context: YamlError.Context?) -> String {
            guard let context else { return "" }
            return " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        }
        switch error {
        case let .scanner(ctx, problem, mark, _), let .parser(ctx, problem, mark, _):
            return (Position(mark), .syntax, "YAML syntax error: \(problem)\(context(ctx))")
        case let .composer(ctx, problem, mark, _):
            return (Position(mark), .syntax, "YAML error: \(problem)\(context(ctx))")
        case let .reader(problem, offset, value, _):
            let position = offset.map { TextPositions.position(ofCharacterOffset: $0, in: text) } ?? Position(line: 1, column: 1)
            let byte = value >= 0 ? " (#x\(String(value, radix: 16, uppercase: true)))" : ""
            return (position, .syntax, "cannot read YAML: \(problem)\(byte)")
        case .memory:
            return (Position(line: 1, column: 1), .tooLarge, "YAML error: out of memory")
        case let .duplicatedKeysInMapping(duplicates, ctx):
            return (Position(ctx.mark), .duplicateKey, "duplicate key \(quoted(duplicates.first ?? ""))")
        default:
            return (Position(line: 1, column: 1), .syntax, "YAML error: \(error)")
        }
    }
}

/// Converting between libyaml's line/column (1-based, columns in Unicode scalars) and offsets.
enum TextPositions {
    /// The scalar offset of `position`, counting libyaml's line breaks (CR LF, CR, LF, NEL, LS, PS)
    /// and skipping a leading byte order mark as libyaml does.
    static func offset(of position: Position, in scalars: [Unicode.Scalar]) -> Int? {
        var index = scalars.first == "\u{FEFF}" ? 1 : 0
        var line = 1
        while line < position.line {
            guard index < scalars.count else { return nil }
            switch scalars[index] {
            case "\r":
                index += (index + 1 < scalars.count && scalars[index + 1] == "\n") ? 2 : 1
                line += 1
            case "\n", "\u{85}", "\u{2028}", "\u{2029}":
                index += 1
                line += 1
            default:
                index += 1
            }
        }
        let offset = index + position.column - 1
        return offset <= scalars.count ? offset : nil
    }

    /// Line and column of a Character offset (Yams reports reader errors so).
    static func position(ofCharacterOffset offset: Int, in text: String) -> Position {
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character.isNewline {
                line += 1
                column = 1
            } else {
                column += character.unicodeScalars.count
            }
        }
        return Position(line: line, column: column)
    }
}
