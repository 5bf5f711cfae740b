/// Cutting a console log down to its end, for `drove logs --tail`.
public enum LogTail {
    /// The last `count` lines of `log`; a final line without its newline counts as one.
    public static func lastLines(_ log: [UInt8], _ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        let newline = UInt8(ascii: "\n")
        var end = log.endIndex
        if log.last == newline { end -= 1 }
        var seen = 0
        var index = end
        while index > log.startIndex {
            if log[index - 1] == newline {
                seen += 1
                if seen == count { return Array(log[index...]) }
            }
            index -= 1
        }
        return log
    }
}
