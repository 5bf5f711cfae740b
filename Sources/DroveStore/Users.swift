import Foundation

/// What a user may do (the API's `Role`, as the store keeps it).
public enum UserRole: String, Sendable, Hashable, CaseIterable {
    case viewer, deployer, admin
}

/// A user as stored: the hash of its token, never the token.
public struct StoredUser: Sendable, Hashable {
    public var name: String
    public var role: UserRole
    /// SHA-256 of the token's secret part.
    public var tokenHash: [UInt8]
    public var createdAt: Date
    /// The user who added it.
    public var createdBy: String
    /// When its token was last made (its creation, or the last rotation).
    public var rotatedAt: Date
}

extension Store {
    /// Adds a user holding the token whose hash is `tokenHash`.
    ///
    /// - Throws: `StoreError.userExists` when the name is taken.
    public func addUser(name: String, role: UserRole, tokenHash: [UInt8], by author: String) async throws(StoreError) -> StoredUser {
        let now = now()
        let row = UserRow(name: name, role: role.rawValue, tokenHash: Data(tokenHash), createdAt: now, createdBy: author, rotatedAt: now)
        return try await write("addUser") { db in
            if try db.exists("SELECT 1 FROM \"user\" WHERE name = ?", [name]) { throw StoreError.userExists(name) }
            try row.insert(db)
            return try row.user()
        }
    }

    /// Every user, by name.
    public func users() async throws(StoreError) -> [StoredUser] {
        try await read("users") { db in
            try db.rows("SELECT \(UserRow.columns) FROM \"user\" ORDER BY name").map { try UserRow($0).user() }
        }
    }

    public func user(named name: String) async throws(StoreError) -> StoredUser? {
        try await read("user") { db in try Self.fetchUser(name, db)?.user() }
    }

    /// Removes a user; its token stops working at once. The objects it owns keep its name as
    /// their owner (an admin may change or delete them).
    ///
    /// - Returns: whether there was such a user.
    @discardableResult
    public func removeUser(named name: String) async throws(StoreError) -> Bool {
        try await write("removeUser") { db in try db.execute("DELETE FROM \"user\" WHERE name = ?", [name]) > 0 }
    }

    /// Replaces a user's token; the old one stops working at once.
    ///
    /// - Returns: the user, or nil if there is none of that name.
    public func rotateToken(ofUser name: String, tokenHash: [UInt8]) async throws(StoreError) -> StoredUser? {
        let now = now()
        return try await write("rotateToken") { db in
            guard var row = try Self.fetchUser(name, db) else { return nil }
            row.tokenHash = Data(tokenHash)
            row.rotatedAt = now
            try db.execute("UPDATE \"user\" SET tokenHash = ?, rotatedAt = ? WHERE name = ?", [row.tokenHash, now, name])
            return try row.user()
        }
    }

    private static func fetchUser(_ name: String, _ db: any SQLTransaction) throws -> UserRow? {
        try db.row("SELECT \(UserRow.columns) FROM \"user\" WHERE name = ?", [name]).map(UserRow.init)
    }
}
