// GitSource: a git repository whose manifests the controller keeps the fleet in step with.

public struct GitSource: Sendable, Hashable {
    public var metadata: ObjectMeta
    public var spec: GitSourceSpec

    public init(metadata: ObjectMeta, spec: GitSourceSpec) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// What a source follows: the head of a branch, a tag, or one fixed commit.
public enum GitReference: Sendable, Hashable, CustomStringConvertible {
    case branch(String)
    case tag(String)
    /// A full commit id (40 hexadecimal digits, or 64 in a SHA-256 repository).
    case commit(String)

    /// The full ref name to ask the remote for; nil for a commit, which names itself.
    public var refName: String? {
        switch self {
        case let .branch(name): "refs/heads/\(name)"
        case let .tag(name): "refs/tags/\(name)"
        case .commit: nil
        }
    }

    /// `branch main`, `tag v1.2`, `commit 3f2a…`.
    public var description: String {
        switch self {
        case let .branch(name): "branch \(name)"
        case let .tag(name): "tag \(name)"
        case let .commit(id): "commit \(id)"
        }
    }
}

/// A file on the controller's machine, below its `--credentials-dir`, holding what a private
/// repository asks for: for `https://` a token (sent as the password of `username`), for
/// `ssh://` a private key, checked against the hosts in `knownHosts`.
public struct GitCredentials: Sendable, Hashable {
    /// The token or key file: absolute, below `--credentials-dir`.
    public var path: String
    /// The user name sent with an HTTPS token.
    public var username: String
    /// For ssh: the known_hosts file the server's key must be in (below `--credentials-dir`).
    public var knownHosts: String?

    public init(path: String, username: String = "git", knownHosts: String? = nil) {
        self.path = path
        self.username = username
        self.knownHosts = knownHosts
    }
}

public struct GitSourceSpec: Sendable, Hashable {
    /// Where to fetch from, as written (a local path, `file://`, `https://`, `ssh://`).
    public var url: String
    public var ref: GitReference
    /// The directory (or one file) inside the repository whose manifests are applied, relative
    /// to its root and normalised (no leading or trailing `/`); empty for the whole repository.
    public var path: String
    /// How often the repository is looked at.
    public var interval: Duration
    /// Delete objects this source applied that a new revision no longer declares.
    public var prune: Bool
    /// Stop fetching and applying until this is false again.
    public var suspend: Bool
    /// Accept a revision that would prune every object of the source.
    public var allowEmpty: Bool
    /// For private repositories.
    public var secretRef: GitCredentials?
    /// The file holding the shared secret push webhooks are signed with; no webhook without it.
    public var webhookSecretRef: String?

    public init(
        url: String, ref: GitReference = .branch("main"), path: String = "", interval: Duration = .seconds(60),
        prune: Bool = false, suspend: Bool = false, allowEmpty: Bool = false, secretRef: GitCredentials? = nil,
        webhookSecretRef: String? = nil
    ) {
        self.url = url
        self.ref = ref
        self.path = path
        self.interval = interval
        self.prune = prune
        self.suspend = suspend
        self.allowEmpty = allowEmpty
        self.secretRef = secretRef
        self.webhookSecretRef = webhookSecretRef
    }
}

/// Durations as manifests write them: `30s`, `1m`, `1h30m`, `90s`.
public enum DurationText {
    /// The seconds `text` stands for: one or more `<digits><unit>` with units `h`, `m`, `s`,
    /// each unit at most once, in that order.
    public static func parse(_ text: String) -> Int? {
        let units: [(name: Character, seconds: Int)] = [("h", 3600), ("m", 60), ("s", 1)]
        var rest = Substring(text)
        var total = 0
        var next = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 6, let value = Int(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let name = rest.first, let index = units[next...].firstIndex(where: { $0.name == name }) else { return nil }
            total += value * units[index].seconds
            next = index + 1
            rest = rest.dropFirst()
        }
        return total
    }

    /// `90` as `1m30s`, `3600` as `1h`.
    public static func format(seconds: Int) -> String {
        let hours = seconds / 3600, minutes = seconds % 3600 / 60, rest = seconds % 60
        var out = ""
        if hours > 0 { out += "\(hours)h" }
        if minutes > 0 { out += "\(minutes)m" }
        if rest > 0 || out.isEmpty { out += "\(rest)s" }
        return out
    }
}

/// Git ref names and paths inside a repository, as a GitSource may write them.
enum GitNames {
    /// A branch or tag name: letters, digits, `.`, `_`, `-` and `/`; no component starting with
    /// `.` or `-`, no `..`, no empty component, not ending in `.lock`; at most 200 bytes.
    /// Narrower than git's own rules, and never read as an option.
    static func isRefName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 200, !name.hasSuffix(".lock") else { return false }
        return name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { component in
            guard let first = component.unicodeScalars.first, first != ".", first != "-" else { return false }
            return !component.contains("..") && component.unicodeScalars.allSatisfy(isRefScalar)
        }
    }

    static func isCommitID(_ text: String) -> Bool {
        (text.utf8.count == 40 || text.utf8.count == 64)
            && text.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
    }

    /// `path` made relative and tidy (`./manifests/` is `manifests`, `.` is the root), or nil if
    /// it leaves the repository, names `.git`, or holds characters outside the safe set.
    static func normalizedPath(_ path: String) -> String? {
        guard !path.hasPrefix("/"), path.utf8.count <= 1024 else { return nil }
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            guard component != "..", component != ".git", let first = component.unicodeScalars.first, first != "-",
                  component.unicodeScalars.allSatisfy({ isRefScalar($0) || $0 == " " }) else { return nil }
            components.append(component)
        }
        return components.joined(separator: "/")
    }

    private static func isRefScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": true
        default: false
        }
    }
}
