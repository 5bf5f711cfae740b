import Foundation

/// Where a store keeps its rows, as `drove serve --store` and `drove store copy` name it:
/// `sqlite:PATH` (a file, the default) or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`
/// (`postgresql://` too; `?sslmode=disable|prefer|require`, `?host=/run/postgresql` for a
/// unix socket directory). Without a password in the URL, `PGPASSWORD` is used, as libpq does.
public enum StoreLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    public init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw .invalidLocation(text, reason: "sqlite: needs a file path (sqlite:/var/lib/drove/drove.sqlite)") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(try PostgresLocation(url: text, environment: environment))
        } else {
            throw .invalidLocation(text, reason: "expected sqlite:PATH or postgres://USER@HOST[:PORT]/DATABASE")
        }
    }

    /// Safe to log and show: never the password.
    public var description: String {
        switch self {
        case let .sqlite(path): "sqlite:\(path)"
        case let .postgres(location): location.description
        }
    }
}

/// A PostgreSQL database and how to reach it.
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Hashable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    /// A directory holding the server's unix socket, instead of host and port.
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(url text: String, environment: [String: String] = [:]) throws(StoreError) {
        // URLComponents wants one scheme it knows the shape of.
        let normalized = text.hasPrefix("postgresql://") ? "postgres://" + text.dropFirst("postgresql://".count) : text
        guard let components = URLComponents(string: normalized) else {
            throw .invalidLocation(Self.redacted(text), reason: "not a URL")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        for name in query.keys where !["sslmode", "host"].contains(name) {
            throw .invalidLocation(Self.redacted(text), reason: "unknown parameter \(name) (known: sslmode, host)")
        }
        socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        port = components.port ?? 5432
        guard let user = components.user, !user.isEmpty else {
            throw .invalidLocation(Self.redacted(text), reason: "no user (postgres://USER@HOST/DATABASE)")
        }
        self.user = user
        password = components.password ?? environment["PGPASSWORD"]
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty, !path.contains("/") else {
            throw .invalidLocation(Self.redacted(text), reason: "no database name (postgres://USER@HOST/DATABASE)")
        }
        database = path
        let mode = query["sslmode"] ?? (socketDirectory != nil || ["localhost", "127.0.0.1", "::1"].contains(host) ? "disable" : "prefer")
        guard let tls = TLSMode(rawValue: mode) else {
            throw .invalidLocation(Self.redacted(text), reason: "sslmode \(mode): expected disable, prefer or require")
        }
        self.tls = tls
    }

    public var description: String {
        let endpoint = socketDirectory.map { "?host=\($0)" } ?? ""
        let server = socketDirectory == nil ? "\(host):\(port)" : ""
        return "postgres://\(user)@\(server)/\(database)\(endpoint)"
    }

    /// The same database under another name (tests make one per test).
    public func database(_ name: String) -> PostgresLocation {
        var copy = self
        copy.database = name
        return copy
    }

    static func redacted(_ text: String) -> String {
        guard let at = text.firstIndex(of: "@"), let scheme = text.range(of: "://"),
              let colon = text[scheme.upperBound..<at].firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}
