import Foundation
import GRDB
import Logging

/// How long events are kept.
public struct EventRetention: Sendable, Hashable {
    /// Keep at most this many events (the newest); nil for no count limit.
    public var maxCount: Int?
    /// Drop events older than this many seconds; nil for no age limit.
    public var maxAge: TimeInterval?
    /// Trim when an appended event's id is a multiple of this, so trimming costs one indexed
    /// delete per `trimInterval` appends. Between trims the log may hold up to
    /// `maxCount + trimInterval - 1` events.
    public var trimInterval: Int

    public init(maxCount: Int? = 10_000, maxAge: TimeInterval? = nil, trimInterval: Int = 100) {
        precondition(maxCount.map { $0 >= 0 } ?? true, "maxCount must not be negative")
        precondition(trimInterval >= 1, "trimInterval must be at least 1")
        self.maxCount = maxCount
        self.maxAge = maxAge
        self.trimInterval = trimInterval
    }
}

public struct StoreOptions: Sendable {
    public var eventRetention: EventRetention
    /// Changes a watcher may fall behind by before its stream ends (see `Store.changes()`).
    public var changeBufferSize: Int
    /// How long a write waits for another process holding the write lock.
    public var busyTimeout: TimeInterval
    /// The store's clock; tests pass a fixed one. Times are kept to the millisecond.
    public var clock: @Sendable () -> Date

    public init(
        eventRetention: EventRetention = EventRetention(), changeBufferSize: Int = 1024,
        busyTimeout: TimeInterval = 5, clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.eventRetention = eventRetention
        self.changeBufferSize = changeBufferSize
        self.busyTimeout = busyTimeout
        self.clock = clock
    }
}

/// The controller's embedded store: desired objects, their status, an event log, and a stream
/// of changes. One SQLite file in WAL mode (`synchronous = NORMAL`: a power cut may lose the
/// last commits but never corrupts the file), reached through a GRDB `DatabasePool`: one
/// writer connection and several readers, so reads never wait for a write.
///
/// Every public call is `async` and runs on GRDB's own dispatch queues, never blocking a
/// thread of Swift's cooperative pool on SQLite; every multi-row write is one transaction.
///
/// `Sendable` without `@unchecked`: every stored property is an immutable `let` of a Sendable
/// type. `DatabasePool` is Sendable (GRDB serializes writes on one queue and hands each read
/// its own connection), and the watcher list lives in a `Mutex` (`ChangeHub`).
public final class Store: Sendable {
    /// The database file.
    public let path: String
    let writer: DatabasePool
    let options: StoreOptions
    let hub: ChangeHub
    let logger: Logger

    /// Opens the store at `path`, creating the file and its directory if needed, and migrates
    /// the schema. Blocks while it opens, checks (`PRAGMA quick_check`) and migrates the file:
    /// call it at startup. Without a `logger` the store logs nothing.
    ///
    /// - Throws: `StoreError.notAStore` for a file that is not a Drove store or is damaged,
    ///   `.newerSchema` for one written by a newer Drove, `.database` for other SQLite failures.
    public init(
        path: String, options: StoreOptions = StoreOptions(),
        logger: Logger = Logger(label: "drove.store", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(StoreError) {
        self.path = path
        self.options = options
        self.logger = logger
        self.hub = ChangeHub(bufferSize: options.changeBufferSize)

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
        self.writer = pool
        logger.info("store opened", metadata: ["store.path": "\(path)"])
    }

    deinit {
        hub.finishAll()
    }

    /// Ends every change stream and closes the database. Later calls throw `StoreError.closed`.
    public func close() throws(StoreError) {
        hub.finishAll()
        do {
            try writer.close()
        } catch {
            throw .database(path: path, operation: "close", message: Self.message(error))
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

    // MARK: - Access, with errors mapped to StoreError

    /// One write transaction on the writer queue. `StoreError`s thrown by `body` roll it back
    /// and pass through unchanged.
    func write<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await writer.write(body)
        } catch {
            throw mapped(error, operation: operation)
        }
    }

    func read<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await writer.read(body)
        } catch {
            throw mapped(error, operation: operation)
        }
    }

    private func mapped(_ error: any Error, operation: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? DatabaseError {
            if error.resultCode == .SQLITE_MISUSE, error.message?.contains("closed") == true {
                return .closed(path: path)
            }
            if [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
                return .notAStore(path: path, reason: "damaged while \(operation): \(Self.message(error))")
            }
        }
        if let cause = Self.cause(of: error, path: path, operation: operation) { return cause }
        return .database(path: path, operation: operation, message: Self.message(error))
    }

    static func message(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return error.message.map { "\($0) (\(error.resultCode))" } ?? "\(error.resultCode)"
        }
        return "\(error)"
    }

    /// Raw SQL, for tests that need to damage or inspect the file.
    func executeForTesting(_ sql: String) async throws(StoreError) {
        try await write("test") { try $0.execute(sql: sql) }
    }

    func fetchForTesting(_ sql: String) async throws(StoreError) -> String? {
        try await read("test") { try String.fetchOne($0, sql: sql) }
    }

    /// Now, to the millisecond, as stored.
    func now() -> Int64 { Millis.from(options.clock()) }
}

/// Times are stored as integer milliseconds since 1970, so what is read back equals what was
/// returned when it was written.
enum Millis {
    static func from(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}
