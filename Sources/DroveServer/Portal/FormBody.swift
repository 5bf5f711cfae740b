import Foundation
import Hummingbird

/// An `application/x-www-form-urlencoded` body, as browsers post forms: the first value of
/// each name.
enum FormBody {
    static func read(_ request: Request, limit: Int) async throws -> [String: String] {
        let bytes = try await request.body.collect(upTo: limit)
        return parse(String(buffer: bytes))
    }

    static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            if fields[name] == nil { fields[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return fields
    }

    /// `+` is a space; `%XX` a byte of UTF-8.
    static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
