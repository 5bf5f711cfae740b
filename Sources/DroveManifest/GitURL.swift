/// A git URL that Drove has checked against an allow-list before git is given it.
///
/// git can be made to run programs by its URL alone: `ext::<command>` runs a command, `fd::`
/// talks over file descriptors, and a URL starting with `-` is read as an option. A GitSource
/// comes from whoever may apply objects, so Drove accepts only these forms, written with
/// letters, digits and `- . _ ~ : / @ + [ ]` (no percent-encoding, query or fragment):
///
/// | form | transport (git's `protocol.<name>.allow`) |
/// |---|---|
/// | `/absolute/path`, `file:///absolute/path` | `file`; only below the policy's local repository directories |
/// | `https://host[:port]/path` | `https`; credentials come from `secretRef`, never the URL |
/// | `ssh://[user@]host[:port]/path` | `ssh` |
/// | `http://host[:port]/path` | `http`; only where the policy allows unencrypted git |
public struct GitURL: Sendable, Hashable {
    public enum Transport: String, Sendable, Hashable {
        case file, https, ssh, http
    }

    /// As written in the manifest.
    public var text: String
    public var transport: Transport
    public var user: String?
    public var host: String?
    public var port: Int?
    public var path: String

    /// Why a URL was refused; the reason is an enum so callers never parse messages.
    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Reason: String, Sendable, Hashable {
            case malformed, character, runsProgram, option, transport, disabledByPolicy, authority, credentialsInURL, path
        }

        public var reason: Reason
        public var message: String

        public var description: String { message }
    }

    /// What git is handed, after `--`: local repositories always as `file://` URLs, so the one
    /// transport rule (`protocol.file.allow`) covers them.
    public var argument: String {
        transport == .file ? "file://" + path : text
    }

    static let accepted = "accepted: /absolute/path, file:///absolute/path, https://host/path, ssh://[user@]host/path"

    /// Checks `text` against the allow-list and `policy`.
    public static func check(_ text: String, policy: ManifestPolicy) -> Result<GitURL, Refusal> {
        func refuse(_ reason: Refusal.Reason, _ message: String) -> Result<GitURL, Refusal> {
            .failure(Refusal(reason: reason, message: message))
        }
        guard !text.isEmpty, text.utf8.count <= 1024 else { return refuse(.malformed, "must be 1 to 1024 bytes long") }
        if text.hasPrefix("-") {
            return refuse(.option, "starts with '-', which git would read as an option; it is never accepted")
        }
        // git reads `<scheme characters>::<address>` as "run the transport helper named so".
        let helper = String(String.UnicodeScalarView(text.unicodeScalars.prefix(while: isSchemeScalar)))
        if text.unicodeScalars.dropFirst(helper.unicodeScalars.count).starts(with: "::".unicodeScalars) {
            if helper.lowercased() == "ext" {
                return refuse(.runsProgram, "uses git's ext:: transport, which runs the command named in the URL on the machine where Drove runs; it is never accepted (\(accepted))")
            }
            return refuse(.transport, "uses git's \(helper)::<address> transport-helper syntax (fd:: reads open file descriptors, others run helper programs); it is never accepted (\(accepted))")
        }
        if let bad = text.unicodeScalars.first(where: { !isURLScalar($0) }) {
            let shown = bad.properties.generalCategory == .control || bad == " " ? "U+\(String(bad.value, radix: 16, uppercase: true))" : "'\(bad)'"
            return refuse(.character, "contains \(shown); Drove accepts git URLs written with letters, digits and - . _ ~ : / @ + [ ] only (no percent-encoding, query or fragment)")
        }
        if text.hasPrefix("/") { return local(text, text: text, policy: policy) }
        guard let separator = text.range(of: "://") else {
            return refuse(.malformed, "is not an absolute path or a URL; scp-like user@host:path is not accepted either (\(accepted))")
        }
        let scheme = String(text[..<separator.lowerBound])
        let rest = String(text[separator.upperBound...])
        let transport: Transport
        switch scheme {
        case "file":
            guard rest.hasPrefix("/") else { return refuse(.authority, "names a host; file:// URLs reach this machine only: write file:///absolute/path") }
            return local(rest, text: text, policy: policy)
        case "https": transport = .https
        case "ssh": transport = .ssh
        case "http":
            guard policy.plainHTTPGit else {
                return refuse(.disabledByPolicy, "uses http://, which is not encrypted (a token sent over it can be read on the way); use https:// or ssh:// (or allow it with --allow-http-git)")
            }
            transport = .http
        case "git":
            return refuse(.transport, "uses git://, which is neither encrypted nor authenticated; use https:// or ssh://")
        default:
            return refuse(.transport, "uses the scheme \"\(scheme)\", which Drove does not fetch from (\(accepted))")
        }

        let pathStart = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<pathStart])
        let path = String(rest[pathStart...])
        guard !authority.isEmpty else { return refuse(.authority, "needs a host: \(scheme)://host/path") }
        if transport != .ssh, authority.contains("@") {
            return refuse(.credentialsInURL, "carries a user name or password; put credentials in spec.secretRef, a file on the controller's machine, never in the URL")
        }
        let parsed: (user: String?, host: String, port: Int?)
        switch HostURI.parseAuthority(authority) {
        case let .success(value): parsed = value
        case let .failure(refusal): return refuse(.authority, refusal.message)
        }
        if parsed.user?.contains(":") == true {
            return refuse(.credentialsInURL, "carries a password; put credentials in spec.secretRef, never in the URL")
        }
        guard path.count > 1 else { return refuse(.path, "needs a repository path after the host: \(scheme)://\(authority)/path/to/repo.git") }
        return .success(GitURL(text: text, transport: transport, user: parsed.user, host: parsed.host, port: parsed.port, path: path))
    }

    /// A repository on this machine: a clean absolute path below an allowed directory.
    private static func local(_ path: String, text: String, policy: ManifestPolicy) -> Result<GitURL, Refusal> {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard HostURI.isCleanAbsolutePath(trimmed) else {
            return .failure(Refusal(reason: .path, message: "must be an absolute path without empty, . or .. components"))
        }
        guard ManifestPolicy.allows(policy.localRepositories, path: trimmed) else {
            let rule: String = switch policy.localRepositories {
            case .nowhere: "this Drove fetches from no repository on its own machine (start it with --repository-dir DIR to allow a directory)"
            default: "local repositories must lie in \(policy.localRepositories)"
            }
            return .failure(Refusal(reason: .disabledByPolicy, message: "is a repository on the controller's machine: \(rule)"))
        }
        return .success(GitURL(text: text, transport: .file, path: trimmed))
    }

    private static func isSchemeScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "+", "-", ".": true
        default: false
        }
    }

    private static func isURLScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": true
        case "-", ".", "_", "~", ":", "/", "@", "+", "[", "]": true
        default: false
        }
    }
}
