import DroveAPI
import DroveStore

/// Who a bearer token belongs to: the server's own token (`--token-file`, the admin) or a
/// user's (`drove users add`), looked up in the store on every request so that a removed
/// user or a rotated token stops working at once.
public struct Authenticator: Sendable {
    /// The `--token-file` token; nil when the server has none.
    let adminToken: String?
    let store: Store

    public init(adminToken: String?, store: Store) {
        self.adminToken = adminToken
        self.store = store
    }

    /// Without a token file the server listens on loopback only and anyone there is the admin.
    public var isOpen: Bool { adminToken == nil }

    public func principal(forToken token: String) async -> Principal? {
        if let adminToken, UserToken.constantTimeEqual(Array(token.utf8), Array(adminToken.utf8)) {
            return .admin
        }
        guard let (name, secret) = UserToken.parse(token),
              let user = try? await store.user(named: name),
              UserToken.constantTimeEqual(UserToken.hash(secret), user.tokenHash) else { return nil }
        return Principal(name: user.name, role: Role(user.role))
    }
}

extension Role {
    init(_ role: UserRole) {
        switch role {
        case .viewer: self = .viewer
        case .deployer: self = .deployer
        case .admin: self = .admin
        }
    }

    var stored: UserRole {
        switch self {
        case .viewer: .viewer
        case .deployer: .deployer
        case .admin: .admin
        }
    }
}
