import Foundation

/// Everything a store holds that is worth moving: objects with their status and conditions,
/// the event log (ids kept, and where they go on from), and users. Not leases or replica
/// records: those belong to the processes running on a store.
public struct StoreSnapshot: Sendable {
    /// Rows by table, in the order they are written back (a status after its object).
    var tables: [(table: String, rows: [SQLRow])]
    /// The last event id ever handed out (the log may have been trimmed past it): the copy's
    /// next event gets a greater one, so a watcher resuming after an id never sees one reused.
    var lastEventID: Int64

    /// Rows of each table, for people: `object: 12, status: 12, …`.
    public var counts: [(table: String, rows: Int)] { tables.map { ($0.table, $0.rows.count) } }
}

extension Store {
    static let copiedTables = ["object", "status", "condition", "event", "\"user\""]

    /// Every row worth moving, from one consistent snapshot.
    public func snapshot() async throws(StoreError) -> StoreSnapshot {
        try await read("snapshot") { db in
            var tables: [(String, [SQLRow])] = []
            for table in Self.copiedTables {
                tables.append((table, try db.rows("SELECT * FROM \(table)", [SQLValue]())))
            }
            return StoreSnapshot(tables: tables, lastEventID: try db.lastEventID())
        }
    }

    /// Writes `snapshot` into this store, which must hold no objects, events or users: all or
    /// nothing, in one transaction.
    ///
    /// - Throws: `StoreError.notEmpty` naming what this store holds already.
    public func restore(_ snapshot: StoreSnapshot) async throws(StoreError) {
        let location = path
        try await write("restore") { db in
            var held: [String] = []
            for table in Self.copiedTables {
                let count = try db.rows("SELECT count(*) AS n FROM \(table)", [SQLValue]()).first?.int64("n") ?? 0
                if count > 0 { held.append("\(count) rows in \(table.replacingOccurrences(of: "\"", with: ""))") }
            }
            if !held.isEmpty { throw StoreError.notEmpty(path: location, holding: held) }
            for (table, rows) in snapshot.tables {
                for row in rows {
                    let columns = row.columnNames
                    let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
                    try db.execute("INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(placeholders))",
                                   try columns.map { try row.value($0) })
                }
            }
            try db.setLastEventID(snapshot.lastEventID)
        }
    }
}
