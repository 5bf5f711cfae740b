import Crypto
import Foundation
import Hummingbird

/// Push webhooks from git servers, authenticated by a secret shared with one GitSource:
///
/// | sender | header | checked |
/// |---|---|---|
/// | GitHub | `X-Hub-Signature-256: sha256=<hex>` | HMAC-SHA256 of the body |
/// | Gitea, Forgejo | `X-Gitea-Signature: <hex>` | HMAC-SHA256 of the body |
/// | GitLab (signing token) | `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` | HMAC-SHA256 of `id.timestamp.body` (Standard Webhooks), the key the base64 after `whsec_`; the timestamp within 5 minutes |
/// | GitLab (secret token) | `X-Gitlab-Token: <secret>` | the secret itself (GitLab's older scheme, which signs nothing) |
///
/// Every comparison takes the same time however much of it matches (swift-crypto's
/// `isValidAuthenticationCode`, and a constant-time compare for the token).
enum Webhook {
    enum Sender: String, Sendable {
        case github = "GitHub"
        case gitea = "Gitea"
        case gitlab = "GitLab"
    }

    /// Why a request was refused, for the 401's message.
    struct Refusal: Error, Sendable {
        var message: String
    }

    static let gitHubSignature = "X-Hub-Signature-256"
    static let giteaSignature = "X-Gitea-Signature"
    static let gitLabToken = "X-Gitlab-Token"
    static let signatureID = "webhook-id"
    static let signatureTimestamp = "webhook-timestamp"
    static let signature = "webhook-signature"
    /// How far a signed timestamp may be from now.
    static let tolerance: TimeInterval = 300

    /// Who sent `body`, if `secret` signed it.
    static func verify(_ headers: HTTPFields, body: [UInt8], secret: [UInt8], now: Date = Date()) -> Result<Sender, Refusal> {
        let key = SymmetricKey(data: secret)
        if let header = headers[.init(gitHubSignature)!] {
            guard header.hasPrefix("sha256="), let mac = bytes(hex: header.dropFirst("sha256=".count)) else {
                return .failure(Refusal(message: "X-Hub-Signature-256 is not sha256=<hex>"))
            }
            return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: key)
                ? .success(.github) : .failure(Refusal(message: "the X-Hub-Signature-256 signature does not match"))
        }
        if let header = headers[.init(giteaSignature)!] {
            guard let mac = bytes(hex: Substring(header)) else { return .failure(Refusal(message: "X-Gitea-Signature is not hexadecimal")) }
            return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: key)
                ? .success(.gitea) : .failure(Refusal(message: "the X-Gitea-Signature signature does not match"))
        }
        if let header = headers[.init(signature)!] {
            guard let id = headers[.init(signatureID)!], let timestamp = headers[.init(signatureTimestamp)!], let seconds = TimeInterval(timestamp) else {
                return .failure(Refusal(message: "webhook-signature needs webhook-id and webhook-timestamp"))
            }
            guard abs(now.timeIntervalSince1970 - seconds) <= tolerance else {
                return .failure(Refusal(message: "webhook-timestamp is more than \(Int(tolerance)) s from now (a replay?)"))
            }
            let text = String(decoding: secret, as: UTF8.self)
            let signingKey = text.hasPrefix("whsec_") ? Data(base64Encoded: String(text.dropFirst("whsec_".count))).map { SymmetricKey(data: $0) } : key
            guard let signingKey else { return .failure(Refusal(message: "the secret starts with whsec_ but is not base64")) }
            let signed = Array("\(id).\(timestamp).".utf8) + body
            // Several space-separated signatures may be sent (a key being rotated); one must hold.
            for candidate in header.split(separator: " ") where candidate.hasPrefix("v1,") {
                if let mac = Data(base64Encoded: String(candidate.dropFirst(3))),
                   HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: signed, using: signingKey) {
                    return .success(.gitlab)
                }
            }
            return .failure(Refusal(message: "the webhook-signature signature does not match"))
        }
        if let token = headers[.init(gitLabToken)!] {
            return UserToken.constantTimeEqual(Array(token.utf8), secret)
                ? .success(.gitlab) : .failure(Refusal(message: "the X-Gitlab-Token does not match"))
        }
        return .failure(Refusal(message: "no signature: send X-Hub-Signature-256 (GitHub), X-Gitea-Signature (Gitea), "
            + "webhook-signature (GitLab signing token) or X-Gitlab-Token (GitLab secret token)"))
    }

    /// The ref a push payload names (`"ref": "refs/heads/main"`, the same in GitHub's, GitLab's
    /// and Gitea's), or nil for a payload without one (a ping).
    static func pushedRef(_ body: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return object["ref"] as? String
    }

    private static func bytes(hex: Substring) -> Data? {
        guard hex.utf8.count % 2 == 0, !hex.isEmpty, hex.allSatisfy(\.isHexDigit) else { return nil }
        var data = Data(capacity: hex.utf8.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            data.append(byte)
            index = next
        }
        return data
    }
}
