/// The syntax of object names and labels. Hand-written character checks: they run for every
/// label of every object, and need no regex engine.
public enum Names {
    public static let maxNameLength = 63
    public static let maxLabelPrefixLength = 253

    // The same rules as JSON Schema patterns, for the schema (anchored; lengths apart).
    static let dnsLabelPattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    static let labelKeyPattern =
        "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
    static let labelValuePattern = "^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"

    /// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
    public static func isDNSLabel(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= maxNameLength else { return false }
        return bytes.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
            && isLowerAlnum(bytes.first!) && isLowerAlnum(bytes.last!)
    }

    /// A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63
    /// characters, alphanumeric at both ends with `-`, `_` and `.` between.
    public static func isLabelKey(_ text: String) -> Bool {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 {
            return isDNSSubdomain(String(parts[0])) && isLabelName(String(parts[1]))
        }
        return isLabelName(text)
    }

    /// A label value: empty, or at most 63 characters, alphanumeric at both ends with `-`, `_`
    /// and `.` between.
    public static func isLabelValue(_ text: String) -> Bool {
        text.isEmpty || isLabelName(text)
    }

    static func isLabelName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= maxNameLength else { return false }
        return bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
            && isAlnum(bytes.first!) && isAlnum(bytes.last!)
    }

    static func isDNSSubdomain(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= maxLabelPrefixLength else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
            let bytes = Array(part.utf8)
            return !bytes.isEmpty && bytes.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
                && isLowerAlnum(bytes.first!) && isLowerAlnum(bytes.last!)
        }
    }

    private static func isLowerAlnum(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isAlnum(_ byte: UInt8) -> Bool {
        isLowerAlnum(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    // Diagnostics' wording, shared by every place that checks a name or label.
    public static let nameRule = "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
    static let labelKeyRule = "must be an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    static let labelValueRule = "must be empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
}

extension Names {
    /// A libvirt network name or a Linux bridge name: letters, digits, '_', '.' and '-', starting
    /// with a letter or digit (so never a path, an option or a shell word), at most 15
    /// characters for a bridge (the kernel's IFNAMSIZ) and 64 for a network.
    static func isInterfaceName(_ text: String, maxLength: Int) -> Bool {
        let bytes = Array(text.utf8)
        func isAlnum(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        return !bytes.isEmpty && bytes.count <= maxLength && isAlnum(bytes[0])
            && bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    static let bridgeNameLength = 15
    static let networkNameLength = 64
    static func bridgeRule() -> String { "letters, digits, '_', '.' and '-', starting with a letter or digit, at most \(bridgeNameLength) characters" }
    static func networkRule() -> String { "letters, digits, '_', '.' and '-', starting with a letter or digit, at most \(networkNameLength) characters" }

    /// A meta-data key: letters, digits, '_' and '-'.
    static func isMetaDataKey(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 64 && text.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }
}
