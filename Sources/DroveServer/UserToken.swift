import Crypto
import Foundation

/// A user's bearer token: `<user>.<secret>`, the secret 32 random bytes in unpadded base64url.
/// The store keeps SHA-256 of the secret only, so a stolen store file holds no usable token;
/// the name in front lets the server fetch one row and compare one hash in constant time.
enum UserToken {
    struct Made {
        var token: String
        var hash: [UInt8]
    }

    static func make(for user: String) -> Made {
        var generator = SystemRandomNumberGenerator()
        let secret = base64url((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        return Made(token: "\(user).\(secret)", hash: hash(secret))
    }

    /// The user a token names and its secret; nil for anything not shaped like a user token.
    static func parse(_ token: String) -> (user: String, secret: Substring)? {
        guard let dot = token.lastIndex(of: "."), dot != token.startIndex else { return nil }
        let secret = token[token.index(after: dot)...]
        guard secret.utf8.count == 43 else { return nil }
        return (String(token[..<dot]), secret)
    }

    static func hash(_ secret: some StringProtocol) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Compares without stopping at the first difference, so timing does not reveal a prefix.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}
