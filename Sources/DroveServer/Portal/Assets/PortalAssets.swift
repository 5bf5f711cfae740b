import Crypto
import Hummingbird

/// A static file of the portal, compiled in. Its URL carries a digest of its content, so a
/// browser may keep it for a year: a changed file has a new URL.
struct PortalAsset: Sendable {
    let name: String
    let contentType: String
    let body: String
    /// `/ui/static/NAME?v=DIGEST`
    let path: String

    init(name: String, contentType: String, body: String) {
        self.name = name
        self.contentType = contentType
        self.body = body
        let digest = SHA256.hash(data: Array(body.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
        path = "/ui/static/\(name)?v=\(digest)"
    }

    func response() -> Response {
        Response(status: .ok, headers: [
            .contentType: contentType, .cacheControl: "public, max-age=31536000, immutable", .xContentTypeOptions: "nosniff",
        ], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

enum PortalAssets {
    static let stylesheet = PortalAsset(name: "portal.css", contentType: "text/css; charset=utf-8", body: PortalStylesheet.source)
    static let script = PortalAsset(name: "portal.js", contentType: "text/javascript; charset=utf-8", body: PortalScript.source)
    static let all = [stylesheet, script]
}
