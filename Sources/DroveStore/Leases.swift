import Foundation

/// A lease as Kubernetes' coordination Lease keeps one: who holds it, since when, when it was
/// last renewed and for how long. Times come from the database's clock, so replicas whose
/// clocks differ agree on whether it has run out.
public struct Lease: Sendable, Hashable {
    public var name: String
    public var holder: String
    public var acquiredAt: Date
    public var renewedAt: Date
    public var duration: TimeInterval
    /// How many times it changed hands.
    public var transitions: Int
    /// The database's clock when this was read.
    public var observedAt: Date

    public var expiresAt: Date { renewedAt.addingTimeInterval(duration) }
    public var expired: Bool { observedAt >= expiresAt }
    /// Time since the last renewal, as the database saw it.
    public var age: TimeInterval { observedAt.timeIntervalSince(renewedAt) }
}

/// What one attempt to take or keep a lease found.
public enum LeaseAttempt: Sendable, Hashable {
    /// Taken: it was free, had run out, or was this holder's own but had run out.
    case acquired(Lease)
    /// This holder's, and still running: renewed.
    case renewed(Lease)
    /// Another holder's, and still running.
    case heldByAnother(Lease)

    public var lease: Lease {
        switch self {
        case let .acquired(lease), let .renewed(lease), let .heldByAnother(lease): lease
        }
    }
}

/// One `drove serve` replica, as it last reported itself.
public struct ControllerRecord: Sendable, Hashable, Codable {
    /// Unique per process run (host name and a random part).
    public var id: String
    /// Where its API listens.
    public var address: String
    public var startedAt: Date
    public var seenAt: Date

    public init(id: String, address: String, startedAt: Date, seenAt: Date) {
        self.id = id
        self.address = address
        self.startedAt = startedAt
        self.seenAt = seenAt
    }
}

enum Leases {
    /// The tables, in either dialect's integer type.
    static func tables(integer: String, strict: String) -> [String] {
        [
            """
            CREATE TABLE lease (
                name TEXT NOT NULL PRIMARY KEY,
                holder TEXT NOT NULL,
                acquiredAt \(integer) NOT NULL,
                renewedAt \(integer) NOT NULL,
                durationMillis \(integer) NOT NULL CHECK (durationMillis > 0),
                transitions \(integer) NOT NULL
            )\(strict)
            """,
            """
            CREATE TABLE controller (
                id TEXT NOT NULL PRIMARY KEY,
                address TEXT NOT NULL,
                startedAt \(integer) NOT NULL,
                seenAt \(integer) NOT NULL
            )\(strict)
            """,
        ]
    }

    static let columns = "name, holder, acquiredAt, renewedAt, durationMillis, transitions"

    static func lease(_ row: SQLRow, now: Int64) throws -> Lease {
        Lease(name: try row.string("name"), holder: try row.string("holder"), acquiredAt: Millis.date(try row.int64("acquiredAt")),
              renewedAt: Millis.date(try row.int64("renewedAt")), duration: Double(try row.int64("durationMillis")) / 1000,
              transitions: try row.int("transitions"), observedAt: Millis.date(now))
    }
}

extension Store {
    /// Takes the lease `name` for `holder`, or renews it if `holder` has it, for `duration`
    /// from now by the database's clock; leaves it alone if another holder's has not run out.
    /// One transaction, serialized with every other lease write (not with the store's other
    /// writes, so a renewal never waits behind them), so two replicas never both take it.
    public func tryAcquireLease(_ name: String, holder: String, duration: TimeInterval) async throws(StoreError) -> LeaseAttempt {
        let millis = Int64((duration * 1000).rounded())
        return try await writeApart("tryAcquireLease") { db in
            let now = try db.databaseNow()
            guard let row = try db.row("SELECT \(Leases.columns) FROM lease WHERE name = ?", [name]) else {
                try db.execute("INSERT INTO lease (\(Leases.columns)) VALUES (?, ?, ?, ?, ?, 0)", [name, holder, now, now, millis])
                return .acquired(Lease(name: name, holder: holder, acquiredAt: Millis.date(now), renewedAt: Millis.date(now),
                                       duration: duration, transitions: 0, observedAt: Millis.date(now)))
            }
            let current = try Leases.lease(row, now: now)
            if current.holder == holder, !current.expired {
                try db.execute("UPDATE lease SET renewedAt = ?, durationMillis = ? WHERE name = ?", [now, millis, name])
                var renewed = current
                renewed.renewedAt = Millis.date(now)
                renewed.duration = duration
                return .renewed(renewed)
            }
            guard current.expired else { return .heldByAnother(current) }
            let transitions = current.transitions + (current.holder == holder ? 0 : 1)
            try db.execute("UPDATE lease SET holder = ?, acquiredAt = ?, renewedAt = ?, durationMillis = ?, transitions = ? WHERE name = ?",
                           [holder, now, now, millis, transitions, name])
            return .acquired(Lease(name: name, holder: holder, acquiredAt: Millis.date(now), renewedAt: Millis.date(now),
                                   duration: duration, transitions: transitions, observedAt: Millis.date(now)))
        }
    }

    /// Gives the lease up at once if `holder` has it (a graceful stop), so another replica
    /// need not wait for it to run out.
    ///
    /// - Returns: whether `holder` had it.
    @discardableResult
    public func releaseLease(_ name: String, holder: String) async throws(StoreError) -> Bool {
        try await writeApart("releaseLease") { db in
            let now = try db.databaseNow()
            // Run out, not removed: its transitions count on.
            return try db.execute("UPDATE lease SET renewedAt = ? - durationMillis WHERE name = ? AND holder = ?", [now, name, holder]) > 0
        }
    }

    /// The lease `name` as it stands, if it was ever taken.
    public func lease(_ name: String) async throws(StoreError) -> Lease? {
        try await read("lease") { db in
            let now = try db.databaseNow()
            return try db.row("SELECT \(Leases.columns) FROM lease WHERE name = ?", [name]).map { try Leases.lease($0, now: now) }
        }
    }

    /// Records that `controller` is alive now (by the database's clock), and forgets replicas
    /// not seen for `forgetAfter`.
    public func recordController(id: String, address: String, startedAt: Date, forgetAfter: TimeInterval = 300) async throws(StoreError) {
        try await writeApart("recordController") { db in
            let now = try db.databaseNow()
            try db.execute("""
                INSERT INTO controller (id, address, startedAt, seenAt) VALUES (?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET address = excluded.address, seenAt = excluded.seenAt
                """, [id, address, Millis.from(startedAt), now])
            try db.execute("DELETE FROM controller WHERE seenAt < ?", [now - Int64(forgetAfter * 1000)])
        }
    }

    /// The replicas that reported themselves, by id, and the database's clock now.
    public func controllers() async throws(StoreError) -> (controllers: [ControllerRecord], now: Date) {
        try await read("controllers") { db in
            let now = try db.databaseNow()
            let records = try db.rows("SELECT id, address, startedAt, seenAt FROM controller ORDER BY id").map { row in
                ControllerRecord(id: try row.string("id"), address: try row.string("address"),
                                 startedAt: Millis.date(try row.int64("startedAt")), seenAt: Millis.date(try row.int64("seenAt")))
            }
            return (records, Millis.date(now))
        }
    }
}
