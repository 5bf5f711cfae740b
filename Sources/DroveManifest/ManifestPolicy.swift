import Foundation

/// What manifests may make Drove reach on the machine it runs on: which libvirt transports,
/// which credential files, which template files. A manifest names hosts and files; the
/// operator who starts Drove decides which of them Drove will open.
///
/// Whatever the policy, no manifest can make Drove run a program: libvirt's `ext` transport and
/// the `command` and `netcat` URI parameters are refused always (see `HostURI`), and so are
/// git's `ext::` and `fd::` transports (see `GitURL`).
public struct ManifestPolicy: Sendable, Hashable {
    /// Where files named by a manifest may lie.
    public enum FileRule: Sendable, Hashable {
        /// Any path (the `drove` CLI run by the person who owns the files).
        case anywhere
        /// Only below one of these absolute directories (after resolving symbolic links).
        case under([String])
        /// No file at all.
        case nowhere
    }

    /// libvirt's in-process `test://` driver, for tests and benchmarks.
    public var testDriver: Bool
    /// `qemu+tcp://`, which is neither encrypted nor, without SASL, authenticated.
    public var tcp: Bool
    /// The `keyfile` (ssh) and `pkipath` (tls) URI parameters.
    public var credentialFiles: FileRule
    /// `Template.spec.source.path`.
    public var templateFiles: FileRule
    /// Git repositories on this machine (a path or `file://`) that a GitSource may fetch from.
    public var localRepositories: FileRule
    /// `http://` git URLs, which are not encrypted: a token sent over one can be read on the way.
    public var plainHTTPGit: Bool
    /// The template store's directory (`drove serve`'s `<data-dir>/templates`), where
    /// `Template.spec.source.blob` resolves; nil: this Drove has none, and blobs are refused.
    public var templateStore: String?

    public init(testDriver: Bool = false, tcp: Bool = false, credentialFiles: FileRule = .nowhere, templateFiles: FileRule = .anywhere,
                localRepositories: FileRule = .anywhere, plainHTTPGit: Bool = false, templateStore: String? = nil) {
        self.testDriver = testDriver
        self.tcp = tcp
        self.credentialFiles = credentialFiles
        self.templateFiles = templateFiles
        self.localRepositories = localRepositories
        self.plainHTTPGit = plainHTTPGit
        self.templateStore = templateStore
    }

    /// The CLI's default: the safe transports, no credential files named in URIs, template
    /// files and local git repositories anywhere the user can read.
    public static let standard = ManifestPolicy()

    /// Everything a configuration could allow: what a client checks before it sends manifests
    /// to a server, which applies its own policy, and what any connection is checked against.
    /// Its template store is a stand-in: whoever checks with it reads no blob.
    public static let anyConfiguration = ManifestPolicy(testDriver: true, tcp: true, credentialFiles: .anywhere, templateFiles: .anywhere,
                                                        localRepositories: .anywhere, plainHTTPGit: true, templateStore: "/drove-template-store")

    /// Whether `path` (absolute) is allowed by `rule`. Symbolic links are resolved first, so a
    /// link inside an allowed directory that points outside it is refused.
    public static func allows(_ rule: FileRule, path: String) -> Bool {
        switch rule {
        case .anywhere: return true
        case .nowhere: return false
        case let .under(directories):
            let real = resolvingSymlinks(path)
            return directories.contains { directory in
                let root = resolvingSymlinks(directory)
                let prefix = root.hasSuffix("/") ? root : root + "/"
                return real.hasPrefix(prefix)
            }
        }
    }

    /// `path` with every symbolic link resolved, as far as it exists.
    static func resolvingSymlinks(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}

extension ManifestPolicy.FileRule: CustomStringConvertible {
    public var description: String {
        switch self {
        case .anywhere: "anywhere"
        case .nowhere: "nowhere"
        case let .under(directories): directories.joined(separator: ", ")
        }
    }
}
