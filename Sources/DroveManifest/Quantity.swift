/// Byte quantities such as `512Mi`: a whole number with an optional suffix, binary (Ki Mi Gi Ti)
/// or decimal (k M G T). A plain number is bytes.
public enum Quantity {
    public enum ParseError: Error, Sendable, Equatable {
        case empty
        case negative
        case fraction
        case unknownSuffix(String)
        case malformed
        case overflow
    }

    static let suffixes: [(suffix: String, multiplier: UInt64)] = [
        ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40),
        ("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000),
    ]

    /// The number of bytes `text` stands for.
    public static func parse(_ text: String) throws(ParseError) -> UInt64 {
        guard !text.isEmpty else { throw .empty }
        if text.hasPrefix("-") { throw .negative }
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let rest = text.dropFirst(digits.count)
        if digits.isEmpty { throw .malformed }
        if rest.hasPrefix(".") || rest.hasPrefix(",") { throw .fraction }
        let multiplier: UInt64
        if rest.isEmpty {
            multiplier = 1
        } else if let match = suffixes.first(where: { $0.suffix == rest }) {
            multiplier = match.multiplier
        } else if rest.allSatisfy({ $0.isLetter }) {
            throw .unknownSuffix(String(rest))
        } else {
            throw .malformed
        }
        guard let value = UInt64(digits) else { throw .overflow }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        if overflow { throw .overflow }
        return bytes
    }

    /// The shortest exact spelling with a binary suffix: `536870912` -> `512Mi`.
    public static func format(_ bytes: UInt64) -> String {
        for (suffix, multiplier) in suffixes.prefix(4).reversed() where bytes >= multiplier && bytes % multiplier == 0 {
            return "\(bytes / multiplier)\(suffix)"
        }
        return "\(bytes)"
    }

    /// What to tell the user about `text` that failed with `error`.
    static func explain(_ text: String, _ error: ParseError) -> String {
        switch error {
        case .negative: "\(quoted(text)) is not a quantity: it is negative"
        case .fraction: "\(quoted(text)) is not a quantity: it must be a whole number (use a smaller unit, e.g. 1536Mi for 1.5Gi)"
        case .overflow: "\(quoted(text)) is too large"
        case .empty, .unknownSuffix, .malformed: "\(quoted(text)) is not a quantity (use e.g. 512Mi, 2Gi)"
        }
    }
}
