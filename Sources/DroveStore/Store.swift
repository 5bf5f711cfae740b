import Foundation
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

/// The controller's store: desired objects, their status, an event log, users, leases, and a
/// stream of changes. Its rows live in an embedded SQLite file (one controller) or a
/// PostgreSQL database (several replicas, one leader); the logic above the rows is the same
/// SQL on both, so both keep the same promises.
///
/// Every public call is `async`, and every multi-row write is one transaction.
public final class Store: Sendable {
    /// Where the rows are: the database file, or the PostgreSQL URL without its password.
    public let path: String
    let engine: any StoreEngine
    let options: StoreOptions
    let logger: Logger

    /// Opens the SQLite store at `path`, creating the file and its directory if needed, and
    /// migrates the schema. Blocks while it opens, checks (`PRAGMA quick_check`) and migrates
    /// the file: call it at startup. Without a `logger` the store logs nothing.
    ///
    /// - Throws: `StoreError.notAStore` for a file that is not a Drove store or is damaged,
    ///   `.newerSchema` for one written by a newer Drove, `.database` for other SQLite failures.
    public convenience init(
        path: String, options: StoreOptions = StoreOptions(),
        logger: Logger = Logger(label: "drove.store", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(StoreError) {
        self.init(engine: try SQLiteEngine(path: path, options: options, logger: logger), options: options, logger: logger)
    }

    /// Opens the store at `location`: a SQLite file, or a PostgreSQL database (connecting,
    /// checking and migrating its schema).
    public static func open(
        _ location: StoreLocation, options: StoreOptions = StoreOptions(),
        logger: Logger = Logger(label: "drove.store", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws(StoreError) -> Store {
        switch location {
        case let .sqlite(path):
            return try Store(path: path, options: options, logger: logger)
        case let .postgres(configuration):
            let engine = try await PostgresEngine.open(configuration, options: options, logger: logger)
            return Store(engine: engine, options: options, logger: logger)
        }
    }

    init(engine: any StoreEngine, options: StoreOptions, logger: Logger) {
        self.engine = engine
        self.path = engine.location
        self.options = options
        self.logger = logger
        logger.info("store opened", metadata: ["store.path": "\(path)"])
    }

    /// Ends every change stream and closes the database. Later calls throw `StoreError.closed`.
    public func close() throws(StoreError) {
        try engine.close()
    }

    // MARK: - Access, with errors mapped to StoreError

    /// One write transaction. `StoreError`s thrown by `body` roll it back and pass through
    /// unchanged.
    func write<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T {
        try await engine.write(operation, body)
    }

    func read<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T {
        try await engine.read(operation, body)
    }

    /// A write transaction on the leases and replica records only (see `StoreEngine.writeApart`).
    func writeApart<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T {
        try await engine.writeApart(operation, body)
    }

    /// Raw SQL, for tests that need to damage or inspect the database.
    func executeForTesting(_ sql: String) async throws(StoreError) {
        try await write("test") { try $0.execute(sql, [SQLValue]()) }
    }

    func fetchForTesting(_ sql: String) async throws(StoreError) -> String? {
        try await read("test") { db in
            guard let row = try db.rows(sql, [SQLValue]()).first, let value = row.single else { return nil }
            switch value {
            case .null: return nil
            case let .integer(integer): return String(integer)
            case let .text(text): return text
            case let .blob(data): return data.base64EncodedString()
            }
        }
    }

    /// For tests: every change committed so far is in the watchers' streams.
    func deliverCommittedChangesForTesting() { engine.deliverCommittedChanges() }

    /// Now, to the millisecond, as stored.
    func now() -> Int64 { Millis.from(options.clock()) }
}

/// Times are stored as integer milliseconds since 1970, so what is read back equals what was
/// returned when it was written.
enum Millis {
    static func from(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}
