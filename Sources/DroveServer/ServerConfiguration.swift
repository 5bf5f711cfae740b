import DroveManifest
import Foundation

/// Where the API listens and how it guards itself.
///
/// With a token file, mutations need `Authorization: Bearer <token>` (the file's, or a user's),
/// and so does every request from beyond loopback. Without one the API accepts mutations from
/// anyone who can reach it, so it may then listen on a loopback address only. Listening beyond
/// loopback also needs TLS, so tokens never cross the network in the clear: `validate()`
/// refuses anything else.
public struct ServerConfiguration: Sendable, Hashable {
    public static let defaultHost = "127.0.0.1"
    public static let defaultPort = 7480
    public static let defaultMaxBodyBytes = 4 << 20
    public static let defaultMaxTemplateBytes: UInt64 = 20 << 30
    public static let defaultIdleTimeout: Duration = .seconds(30)

    /// The address to bind: an IP address or `localhost`.
    public var host: String
    public var port: Int
    /// A file holding the bearer token (surrounding whitespace and newlines are ignored).
    public var tokenFile: String?
    /// Request bodies larger than this are refused with 413 (template images excepted).
    public var maxBodyBytes: Int
    /// Template images pushed larger than this are refused with 413.
    public var maxTemplateBytes: UInt64
    /// How often a watch stream sends a comment line, so that proxies and clients see it alive
    /// and a client that went away is noticed.
    public var heartbeatInterval: Duration
    /// A connection that sends nothing for this long while it is not being answered (idle
    /// between requests, or stalled in a request's head or body, as a slowloris client is) is
    /// closed, so slow clients cannot hold connections and memory without end.
    public var idleTimeout: Duration
    /// Once `idleTimeout` has passed since a request body began, it must have come at least
    /// this fast on average (a client dribbling a byte within every idle period is cut off).
    public var minimumBodyBytesPerSecond: Int
    /// Which host URIs and files applied manifests may name.
    public var manifestPolicy: ManifestPolicy
    /// PEM files of the server's certificate (chain) and private key; both or neither.
    public var tlsCertificate: String?
    public var tlsKey: String?

    public init(
        host: String = ServerConfiguration.defaultHost, port: Int = ServerConfiguration.defaultPort,
        tokenFile: String? = nil, maxBodyBytes: Int = ServerConfiguration.defaultMaxBodyBytes,
        manifestPolicy: ManifestPolicy = ManifestPolicy(templateFiles: .nowhere),
        tlsCertificate: String? = nil, tlsKey: String? = nil
    ) {
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
        self.manifestPolicy = manifestPolicy
        self.host = host
        self.port = port
        self.tokenFile = tokenFile
        self.maxBodyBytes = maxBodyBytes
        self.maxTemplateBytes = Self.defaultMaxTemplateBytes
        self.heartbeatInterval = .seconds(15)
        self.idleTimeout = Self.defaultIdleTimeout
        self.minimumBodyBytesPerSecond = 1024
    }

    /// Whether `host` names this machine only: `localhost`, `127.0.0.0/8` or `::1`.
    public var isLoopback: Bool {
        let host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Checks the configuration and reads the token.
    ///
    /// - Returns: the bearer token, or nil when no token file is set.
    /// - Throws: `ServerConfigurationError` for a port out of range, a body limit below one
    ///   byte, an unreadable or empty token file, or a non-loopback address without a token.
    @discardableResult
    public func validate() throws(ServerConfigurationError) -> String? {
        guard (0...65535).contains(port) else { throw .invalidPort(port) }
        guard maxBodyBytes >= 1 else { throw .invalidBodyLimit(maxBodyBytes) }
        guard heartbeatInterval > .zero else { throw .invalidHeartbeat }
        guard idleTimeout > .zero else { throw .invalidIdleTimeout }
        guard (tlsCertificate == nil) == (tlsKey == nil) else { throw .tlsIncomplete }
        guard let tokenFile else {
            if !isLoopback { throw .tokenRequired(host: host) }
            return nil
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: tokenFile))
        } catch {
            throw .unreadableTokenFile(path: tokenFile, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .unreadableTokenFile(path: tokenFile, reason: "not UTF-8 text")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw .unreadableTokenFile(path: tokenFile, reason: "the file is empty") }
        guard !token.contains(where: { $0.isWhitespace }) else {
            throw .unreadableTokenFile(path: tokenFile, reason: "the token contains whitespace")
        }
        if !isLoopback, tlsCertificate == nil { throw .tlsRequired(host: host) }
        return token
    }
}

/// Why the API refuses to start.
public enum ServerConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidPort(Int)
    case invalidBodyLimit(Int)
    case invalidHeartbeat
    case invalidIdleTimeout
    /// Binding beyond loopback would let anyone on the network change the fleet.
    case tokenRequired(host: String)
    case unreadableTokenFile(path: String, reason: String)
    /// Beyond loopback, tokens would cross the network in the clear.
    case tlsRequired(host: String)
    case tlsIncomplete
    case unreadableTLSFile(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidPort(port):
            "port \(port) is out of range (0-65535)"
        case let .invalidBodyLimit(bytes):
            "the request body limit must be at least 1 byte, not \(bytes)"
        case .invalidHeartbeat:
            "the watch heartbeat interval must be positive"
        case .invalidIdleTimeout:
            "the idle timeout of connections must be positive"
        case let .tokenRequired(host):
            "refusing to listen on \(host) without a token: anyone who can reach it could change the fleet; "
                + "pass --token-file FILE, or listen on 127.0.0.1"
        case let .unreadableTokenFile(path, reason):
            "token file \(path): \(reason)"
        case let .tlsRequired(host):
            "refusing to listen on \(host) without TLS: tokens would cross the network in the clear; "
                + "pass --tls-cert FILE --tls-key FILE, or listen on 127.0.0.1"
        case .tlsIncomplete:
            "--tls-cert and --tls-key go together: pass both or neither"
        case let .unreadableTLSFile(path, reason):
            "TLS file \(path): \(reason)"
        }
    }
}
