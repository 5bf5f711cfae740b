import Foundation
import GRDB
import Logging

/// The embedded engine: one SQLite file in WAL mode (`synchronous = NORMAL`: a power cut may
/// lose the last commits but never corrupts the file), reached through a GRDB `DatabasePool`:
/// one writer connection and several readers, so reads never wait for a write. Every call runs
/// on GRDB's own dispatch queues, never blocking a thread of Swift's cooperative pool on SQLite.
///
/// Changes reach the watchers of this process only: one controller per file.
final class SQLiteEngine: StoreEngine {
    let location: String
    private let pool: DatabasePool
    private let hub: ChangeHub
    private let clock: @Sendable () -> Date

    /// Opens the file at `path`, creating it and its directory if needed, checks it
    /// (`PRAGMA quick_check`) and migrates the schema. Blocks while it does: call it at startup.
    init(path: String, options: StoreOptions, logger: Logger) throws(StoreError) {
        location = path
        hub = ChangeHub(bufferSize: options.changeBufferSize)
        clock = options.clock
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .database(path: path, operation: "create directory \(directory)", message: "\(error)")
            }
        }

        var configuration = Configuration()
        configuration.label = "DroveStore"
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(options.busyTimeout)
        configuration.prepareDatabase { db in
            // DatabasePool sets WAL mode; NORMAL is safe in WAL (see the type's documentation).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw Self.openError(error, path: path)
        }
        do {
            try Self.prepare(pool, path: path, logger: logger)
        } catch {
            try? pool.close()
            throw error
        }
        self.pool = pool
    }

    deinit {
        hub.finishAll()
    }

    func close() throws(StoreError) {
        hub.finishAll()
        do {
            try pool.close()
        } catch {
            throw .database(path: location, operation: "close", message: Self.message(error))
        }
    }

    func changes() -> AsyncStream<StoreChange> { hub.subscribe() }

    func deliverCommittedChanges() {}

    func write<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T {
        let hub = hub, clock = clock
        do {
            return try await pool.write { db in try body(Transaction(db: db, hub: hub, clock: clock)) }
        } catch {
            throw mapped(error, operation: operation)
        }
    }

    /// SQLite has one writer: its writes are short, and the queue is the file's own lock.
    func writeApart<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T {
        try await write(operation, body)
    }

    func read<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T {
        let hub = hub, clock = clock
        do {
            return try await pool.read { db in try body(Transaction(db: db, hub: hub, clock: clock)) }
        } catch {
            throw mapped(error, operation: operation)
        }
    }

    /// GRDB's `Database`, as the store's SQL sees it.
    private struct Transaction: SQLTransaction {
        let db: Database
        let hub: ChangeHub
        let clock: @Sendable () -> Date

        func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
            try db.execute(sql: sql, arguments: Self.arguments(arguments))
            return db.changesCount
        }

        func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
            try Row.fetchAll(db, sql: sql, arguments: Self.arguments(arguments)).map { row in
                SQLRow(row.columnNames.map { name in (name, Self.value(row[name] as DatabaseValue)) })
            }
        }

        /// Published from GRDB's writer queue in a commit hook, so watchers get changes in
        /// commit order and only for committed transactions.
        func publish(_ changes: [StoreChange]) {
            hub.publish(changes, after: db)
        }

        /// AUTOINCREMENT keeps the largest id ever used in `sqlite_sequence`.
        func lastEventID() throws -> Int64 {
            try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'event'") ?? 0
        }

        func setLastEventID(_ id: Int64) throws {
            try db.execute(sql: "DELETE FROM sqlite_sequence WHERE name = 'event'")
            try db.execute(sql: "INSERT INTO sqlite_sequence (name, seq) VALUES ('event', ?)", arguments: [max(id, lastEventID())])
        }

        /// One process owns the file, so its clock is the database's.
        func databaseNow() throws -> Int64 { Millis.from(clock()) }

        private static func arguments(_ values: [SQLValue]) -> StatementArguments {
            StatementArguments(values.map { value -> (any DatabaseValueConvertible)? in
                switch value {
                case .null: nil
                case let .integer(integer): integer
                case let .text(text): text
                case let .blob(data): data
                }
            })
        }

        private static func value(_ value: DatabaseValue) -> SQLValue {
            switch value.storage {
            case .null: .null
            case let .int64(integer): .integer(integer)
            case let .double(double): .integer(Int64(double))
            case let .string(text): .text(text)
            case let .blob(data): .blob(data)
            }
        }
    }

    // MARK: - Opening

    /// Checks the file is a Drove store (or empty), is intact, and is not from a newer Drove;
    /// then migrates.
    private static func prepare(_ pool: DatabasePool, path: String, logger: Logger) throws(StoreError) {
        let migrator = Schema.migrator
        do {
            try pool.barrierWriteWithoutTransaction { db in
                let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
                let appliedMigrations = try migrator.appliedIdentifiers(db)
                if applicationID != Schema.applicationID {
                    let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                    // An empty file is a new store; anything else is somebody else's database.
                    if applicationID != 0 || !tables.isEmpty || !appliedMigrations.isEmpty {
                        let found = String(format: "0x%08x", applicationID), ours = String(format: "0x%08x", Schema.applicationID)
                        let holding = tables.isEmpty ? "no tables" : "tables " + tables.sorted().joined(separator: ", ")
                        throw StoreError.notAStore(path: path, reason: "its SQLite application_id is \(found), not Drove's \(ours), and it holds \(holding)")
                    }
                }
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check(5)")
                if check != ["ok"] {
                    throw StoreError.notAStore(path: path, reason: "damaged: " + check.joined(separator: "; "))
                }
                if try migrator.hasBeenSuperseded(db) {
                    let known = Set(migrator.migrations)
                    throw StoreError.newerSchema(path: path, unknownMigrations: appliedMigrations.subtracting(known).sorted())
                }
            }
            let before = try pool.read { try migrator.appliedIdentifiers($0) }
            try migrator.migrate(pool)
            let applied = migrator.migrations.filter { !before.contains($0) }
            if !applied.isEmpty {
                logger.info("store schema migrated", metadata: ["store.path": "\(path)", "store.migrations": "\(applied.joined(separator: ","))"])
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw openError(error, path: path)
        }
    }

    private static func openError(_ error: any Error, path: String) -> StoreError {
        if let error = error as? DatabaseError,
           [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
            return .notAStore(path: path, reason: error.message ?? "\(error.resultCode)")
        }
        if let cause = cause(of: error, path: path, operation: "open") { return cause }
        return .database(path: path, operation: "open", message: message(error))
    }

    /// A lock held by another process, or a full disk: causes an operator can act on.
    private static func cause(of error: any Error, path: String, operation: String) -> StoreError? {
        guard let error = error as? DatabaseError else { return nil }
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: return .locked(path: path, operation: operation)
        case .SQLITE_FULL: return .full(path: path, operation: operation)
        default: return nil
        }
    }

    private func mapped(_ error: any Error, operation: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? DatabaseError {
            if error.resultCode == .SQLITE_MISUSE, error.message?.contains("closed") == true {
                return .closed(path: location)
            }
            if [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
                return .notAStore(path: location, reason: "damaged while \(operation): \(Self.message(error))")
            }
        }
        if let cause = Self.cause(of: error, path: location, operation: operation) { return cause }
        return .database(path: location, operation: operation, message: Self.message(error))
    }

    static func message(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return error.message.map { "\($0) (\(error.resultCode))" } ?? "\(error.resultCode)"
        }
        return "\(error)"
    }
}

extension ChangeHub {
    /// Publishes `changes` when the current transaction of `db` commits; nothing if it rolls back.
    func publish(_ changes: [StoreChange], after db: Database) {
        guard !changes.isEmpty else { return }
        db.afterNextTransaction { [self] _ in yield(changes) }
    }
}
