/// What a user may do. Roles are ordered: each may do what the one before it may.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Reads everything; changes nothing.
    case viewer
    /// Also creates, changes and deletes the VM sets and templates it owns, using its own
    /// templates and shared ones.
    case deployer
    /// Everything: Hosts, GitSources, users, template files on the controller's disk.
    case admin

    public static func < (lhs: Role, rhs: Role) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// Who a request acts for, as the server authenticated it.
public struct Principal: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The user's name; `admin` for the server's own token file.
    public var name: String
    public var role: Role

    public init(name: String, role: Role) {
        self.name = name
        self.role = role
    }

    /// The holder of the server's `--token-file`, and anyone on loopback when the server has
    /// no credentials at all.
    public static let admin = Principal(name: "admin", role: .admin)

    public var description: String { "\(name) (\(role.rawValue))" }
}
