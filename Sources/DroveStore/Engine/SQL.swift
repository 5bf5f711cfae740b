import Foundation

/// The SQL engines under a `Store`: the store's logic is written once, in the SQL both SQLite
/// and PostgreSQL speak, against these few types; each engine runs it in its own transactions.

/// One value bound to a statement or read from a row.
enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case text(String)
    case blob(Data)
}

/// Turns Swift values into `SQLValue`s, so statements read `[kind, name, now]`.
protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension Int64: SQLBindable { var sqlValue: SQLValue { .integer(self) } }
extension Int: SQLBindable { var sqlValue: SQLValue { .integer(Int64(self)) } }
extension String: SQLBindable { var sqlValue: SQLValue { .text(self) } }
extension Data: SQLBindable { var sqlValue: SQLValue { .blob(self) } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// One row of a result, by column name. Names are compared in lower case: PostgreSQL folds
/// the unquoted names the schema uses.
struct SQLRow: Sendable {
    private var columns: [String: SQLValue] = [:]

    init(_ pairs: some Sequence<(String, SQLValue)>) {
        for (name, value) in pairs { columns[name.lowercased()] = value }
    }

    func value(_ column: String) throws -> SQLValue {
        guard let value = columns[column.lowercased()] else { throw RowError.missingColumn(column) }
        return value
    }

    func int64(_ column: String) throws -> Int64 {
        guard case let .integer(value) = try value(column) else { throw RowError.wrongType(column, "an integer") }
        return value
    }

    /// Its columns' names, in lower case, sorted.
    var columnNames: [String] { columns.keys.sorted() }

    /// The value of a row of one column.
    var single: SQLValue? { columns.count == 1 ? columns.first?.value : nil }

    func int(_ column: String) throws -> Int { Int(try int64(column)) }

    func optionalInt64(_ column: String) throws -> Int64? {
        if case .null = try value(column) { return nil }
        return try int64(column)
    }

    func string(_ column: String) throws -> String {
        guard case let .text(value) = try value(column) else { throw RowError.wrongType(column, "text") }
        return value
    }

    func optionalString(_ column: String) throws -> String? {
        if case .null = try value(column) { return nil }
        return try string(column)
    }

    func data(_ column: String) throws -> Data {
        guard case let .blob(value) = try value(column) else { throw RowError.wrongType(column, "bytes") }
        return value
    }

    /// SQLite has no booleans: `EXISTS` is 0 or 1 there (PostgreSQL's engine reads its
    /// booleans as 0 or 1 too).
    func bool(_ column: String) throws -> Bool { try int64(column) != 0 }
}

/// The statements of one transaction. Placeholders are `?`, in order; the PostgreSQL engine
/// numbers them. Thrown errors roll the transaction back.
protocol SQLTransaction {
    /// Runs a statement; returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int
    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow]
    /// Delivers `changes` to every watcher (of every replica, on PostgreSQL) once the
    /// transaction commits; never if it rolls back.
    func publish(_ changes: [StoreChange])
    /// The database's own clock, in milliseconds: what leases are timed by, so replicas whose
    /// clocks differ still agree on when a lease runs out.
    func databaseNow() throws -> Int64
    /// The last event id the log ever handed out, and setting it (a copied store's events go on
    /// from the original's): the one place the engines' SQL differs.
    func lastEventID() throws -> Int64
    func setLastEventID(_ id: Int64) throws
}

extension SQLTransaction {
    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Int {
        try execute(sql, arguments.map(\.sqlValue))
    }

    func rows(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [SQLRow] {
        try rows(sql, arguments.map(\.sqlValue))
    }

    func row(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> SQLRow? {
        try rows(sql, arguments).first
    }

    func exists(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Bool {
        try rows("SELECT EXISTS (\(sql)) AS found", arguments).first?.bool("found") ?? false
    }
}

/// A database a `Store` keeps its rows in.
protocol StoreEngine: Sendable {
    /// Where the rows are, as errors name it: a file, or a PostgreSQL URL without its password.
    var location: String { get }
    /// One write transaction; writes never run at once, not even from several replicas.
    func write<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T
    /// One write transaction on tables no other write touches (leases, replica records): on
    /// PostgreSQL it neither waits behind the store's other writes nor holds them up, so a
    /// leader's renewal is never late because the controller is writing a lot.
    func writeApart<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T
    /// One read-only transaction on a consistent snapshot.
    func read<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T
    /// The changes committed from now on, by anyone writing to this database.
    func changes() -> AsyncStream<StoreChange>
    /// Returns once every change committed so far is in the watchers' streams (SQLite hands
    /// them over as it commits; PostgreSQL's feed may still be reading them).
    func deliverCommittedChanges()
    func close() throws(StoreError)
}

/// Numbers `?` placeholders `$1`, `$2`, … for PostgreSQL, leaving quoted text alone.
enum Placeholders {
    static func numbered(_ sql: String) -> String {
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var next = 1
        var quote: Character?
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
                result.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                result.append(character)
            } else if character == "?" {
                result += "$\(next)"
                next += 1
            } else {
                result.append(character)
            }
        }
        return result
    }
}
