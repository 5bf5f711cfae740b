import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// The shared engine: a PostgreSQL database that several `drove serve` replicas use at once.
///
/// - Writes run one at a time across every replica: each write transaction first takes one
///   transaction-level advisory lock, so the store's checks (generations, ownership, references)
///   see every earlier write, as they do on SQLite's single writer.
/// - Reads run on their own connections, each in a read-only REPEATABLE READ transaction: one
///   consistent snapshot per call.
/// - Changes: a write appends what it changed to the `change` table (its `revision` counts up
///   in commit order, since writers are serialized) and sends `NOTIFY drove_changes` on commit.
///   Every replica reads the table after its last revision when notified, after its own writes,
///   and every second in case a notification was lost, and hands the changes to its watchers:
///   the same changes in the same order on every replica.
///
/// Connections are used from dispatch queues of their own (one per connection), never from
/// Swift's cooperative pool, as GRDB does for SQLite; a lost connection is made again on its
/// next use.
final class PostgresEngine: StoreEngine {
    let location: String
    private let writer: PostgresSession
    /// Leases and replica records, apart from the other writes.
    private let apart: PostgresSession
    private let readers: [PostgresSession]
    private let nextReader = Atomic<Int>(0)
    private let feed: PostgresFeed
    private let closed = Atomic<Bool>(false)
    private let logger: Logger

    /// The lock every write takes: "DROV".
    static let writeLock: Int64 = 0x4452_4F56
    /// The lock writes apart take: "DROL".
    static let apartLock: Int64 = 0x4452_4F4C

    private init(location: PostgresLocation, options: StoreOptions, logger: Logger) throws(StoreError) {
        self.location = location.description
        self.logger = logger
        let configuration = try Self.configuration(location)
        let setup = ["SET lock_timeout = '\(Int(options.busyTimeout * 1000))ms'", "SET application_name = 'drove'"]
        writer = PostgresSession(configuration: configuration, setup: setup, label: "writer", logger: logger)
        apart = PostgresSession(configuration: configuration, setup: setup, label: "apart", logger: logger)
        readers = (1...2).map { PostgresSession(configuration: configuration, setup: setup, label: "reader-\($0)", logger: logger) }
        feed = PostgresFeed(
            session: PostgresSession(configuration: configuration, setup: setup, label: "feed", logger: logger),
            listener: PostgresSession(configuration: configuration, setup: setup, label: "listener", logger: logger),
            bufferSize: options.changeBufferSize, logger: logger)
    }

    /// Connects, checks the database is a Drove store (or empty) of a schema this build knows,
    /// migrates it, and starts following its changes.
    static func open(_ location: PostgresLocation, options: StoreOptions, logger: Logger) async throws(StoreError) -> PostgresEngine {
        let engine = try PostgresEngine(location: location, options: options, logger: logger)
        do {
            let where_ = engine.location
            try await engine.writer.run { connection in try PostgresSchema.migrate(connection, location: where_, logger: logger) }
            try await engine.feed.start()
        } catch {
            engine.shutDown()
            throw engine.mapped(error, operation: "open")
        }
        return engine
    }

    func changes() -> AsyncStream<StoreChange> { feed.hub.subscribe() }

    func deliverCommittedChanges() { feed.drain() }

    func close() throws(StoreError) {
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        // Watchers get every change committed before the close, as on SQLite.
        feed.drain()
        shutDown()
    }

    deinit {
        // A store dropped without close (an early exit) still closes its connections.
        if !closed.load(ordering: .sequentiallyConsistent) { shutDown() }
    }

    private func shutDown() {
        feed.stop()
        writer.close()
        apart.close()
        for reader in readers { reader.close() }
    }

    func write<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T {
        guard !closed.load(ordering: .sequentiallyConsistent) else { throw .closed(path: location) }
        let logger = logger
        do {
            let result = try await writer.run { connection in
                try PostgresTransaction.run(connection, logger: logger, begin: "BEGIN") { transaction in
                    try transaction.execute("SELECT pg_advisory_xact_lock(?)", [Self.writeLock])
                    let value = try body(transaction)
                    try PostgresFeed.append(transaction.published, connection, logger: logger)
                    return value
                }
            }
            // This replica's own writes reach its watchers before the write returns, as on
            // SQLite: a watcher that subscribes afterwards never gets them.
            await feed.catchUp()
            return result
        } catch {
            throw mapped(error, operation: operation)
        }
    }

    func writeApart<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T {
        guard !closed.load(ordering: .sequentiallyConsistent) else { throw .closed(path: location) }
        let logger = logger
        do {
            return try await apart.run { connection in
                try PostgresTransaction.run(connection, logger: logger, begin: "BEGIN") { transaction in
                    try transaction.execute("SELECT pg_advisory_xact_lock(?)", [Self.apartLock])
                    return try body(transaction)
                }
            }
        } catch {
            throw mapped(error, operation: operation)
        }
    }

    func read<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws(StoreError) -> T {
        guard !closed.load(ordering: .sequentiallyConsistent) else { throw .closed(path: location) }
        let logger = logger
        let reader = readers[nextReader.wrappingAdd(1, ordering: .relaxed).oldValue % readers.count]
        do {
            return try await reader.run { connection in
                try PostgresTransaction.run(connection, logger: logger, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
            }
        } catch {
            throw mapped(error, operation: operation)
        }
    }

    // MARK: - Errors

    func mapped(_ error: any Error, operation: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if error is SessionClosed { return .closed(path: location) }
        if error is StatementTimedOut { return .unavailable(path: location, operation: operation, message: "\(error)") }
        if let error = error as? PSQLError {
            switch error.code {
            case .server:
                let state = error.serverInfo?[.sqlState] ?? ""
                let message = error.serverInfo?[.message] ?? "\(error)"
                switch state {
                case "55P03": return .locked(path: location, operation: operation)
                case "53100": return .full(path: location, operation: operation)
                case "57P01", "57P02", "57P03", "08000", "08003", "08006":
                    return .unavailable(path: location, operation: operation, message: "\(message) (\(state))")
                default: return .database(path: location, operation: operation, message: "\(message) (\(state))")
                }
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .sslUnsupported:
                return .unavailable(path: location, operation: operation, message: Self.cause(error))
            default:
                return .database(path: location, operation: operation, message: Self.cause(error))
            }
        }
        if error is ChannelError || error is IOError || error is NIOConnectionError {
            return .unavailable(path: location, operation: operation, message: "\(error)")
        }
        return .database(path: location, operation: operation, message: "\(error)")
    }

    private static func cause(_ error: PSQLError) -> String {
        error.underlying.map { "\(error.code): \($0)" } ?? "\(error.code)"
    }

    static func configuration(_ location: PostgresLocation) throws(StoreError) -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let directory = location.socketDirectory {
            configuration = PostgresConnection.Configuration(
                unixSocketPath: "\(directory)/.s.PGSQL.\(location.port)", username: location.user,
                password: location.password, database: location.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            do {
                switch location.tls {
                case .disable: tls = .disable
                case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            } catch {
                throw .invalidLocation(location.description, reason: "TLS: \(error)")
            }
            configuration = PostgresConnection.Configuration(
                host: location.host, port: location.port, username: location.user, password: location.password,
                database: location.database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }
}

/// One connection to the server, made on first use and made again after it is lost, used
/// from its own serial queue. Once closed it makes no more.
final class PostgresSession: Sendable {
    private struct State {
        var connection: PostgresConnection?
        var closed = false
    }

    private let queue: DispatchQueue
    private let state = Mutex(State())
    private let configuration: PostgresConnection.Configuration
    private let setup: [String]
    private let logger: Logger
    private static let ids = Atomic<Int>(0)

    init(configuration: PostgresConnection.Configuration, setup: [String], label: String, logger: Logger) {
        self.queue = DispatchQueue(label: "drove.store.postgres.\(label)")
        self.configuration = configuration
        self.setup = setup
        self.logger = logger
    }

    /// Runs `work` on this session's queue with a live connection.
    func run<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try self.runHere(work) }) }
        }
    }

    /// The same, on the caller's thread, after whatever the queue holds.
    func runNow<T>(_ work: (PostgresConnection) throws -> T) throws -> T {
        try queue.sync { try runHere(work) }
    }

    private func runHere<T>(_ work: (PostgresConnection) throws -> T) throws -> T {
        let live = try connected()
        do {
            return try work(live)
        } catch {
            if live.isClosed { state.withLock { if $0.connection === live { $0.connection = nil } } }
            throw error
        }
    }

    /// A live connection: the one held, or a new one.
    func connected() throws -> PostgresConnection {
        let (held, closed) = state.withLock { ($0.connection, $0.closed) }
        if closed { throw SessionClosed() }
        if let held, !held.isClosed { return held }
        let id = Self.ids.wrappingAdd(1, ordering: .relaxed).oldValue
        let made = try PostgresConnection.connect(
            on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration, id: id, logger: logger).wait()
        do {
            for statement in setup { _ = try PostgresTransaction.bounded(made, made.query(PostgresQuery(unsafeSQL: statement), logger: logger)) }
        } catch {
            try? made.close().wait()
            throw error
        }
        let kept = state.withLock { state in
            guard !state.closed else { return false }
            state.connection = made
            return true
        }
        guard kept else {
            try? made.close().wait()
            throw SessionClosed()
        }
        return made
    }

    func close() {
        let held = state.withLock { state in
            state.closed = true
            return state.connection.take()
        }
        try? held?.close().wait()
    }
}

/// A session used after the store closed.
struct SessionClosed: Error {}

/// A statement that did not finish within `PostgresTransaction.statementTimeout`.
struct StatementTimedOut: Error, CustomStringConvertible {
    var description: String { "no answer within \(PostgresTransaction.statementTimeout.nanoseconds / 1_000_000_000) s" }
}

/// The store's SQL on one PostgreSQL connection, inside a transaction.
final class PostgresTransaction: SQLTransaction {
    let connection: PostgresConnection
    let logger: Logger
    private(set) var published: [StoreChange] = []

    private init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// `body` between `begin` and COMMIT; ROLLBACK when it throws.
    static func run<T>(_ connection: PostgresConnection, logger: Logger, begin: String,
                       _ body: (PostgresTransaction) throws -> T) throws -> T {
        let transaction = PostgresTransaction(connection: connection, logger: logger)
        try transaction.execute(begin, [SQLValue]())
        do {
            let value = try body(transaction)
            try transaction.execute("COMMIT", [SQLValue]())
            return value
        } catch {
            if !connection.isClosed { _ = try? transaction.execute("ROLLBACK", [SQLValue]()) }
            throw error
        }
    }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        try query(sql, arguments).metadata.rows ?? 0
    }

    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        try query(sql, arguments).rows.map { row in
            SQLRow(try row.map { cell in (cell.columnName, try Self.value(cell)) })
        }
    }

    func publish(_ changes: [StoreChange]) {
        published += changes
    }

    func lastEventID() throws -> Int64 {
        try rows("SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('event', 'id')), 0) AS last", [SQLValue]())
            .first?.int64("last") ?? 0
    }

    func setLastEventID(_ id: Int64) throws {
        guard id > 0 else { return }
        try execute("SELECT setval(pg_get_serial_sequence('event', 'id'), greatest(?, (SELECT coalesce(max(id), 1) FROM event)))",
                    [.integer(id)])
    }

    func databaseNow() throws -> Int64 {
        try rows("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now", [SQLValue]()).first?.int64("now") ?? 0
    }

    private func query(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument {
            case .null: binds.appendNull()
            case let .integer(integer): binds.append(integer)
            case let .text(text): binds.append(text)
            case let .blob(data): binds.append(ByteBuffer(bytes: data))
            }
        }
        return try Self.bounded(connection, connection.query(PostgresQuery(unsafeSQL: Placeholders.numbered(sql), binds: binds), logger: logger))
    }

    /// The longest one statement may take. A server that stops answering (a network cut that
    /// drops packets rather than closing the connection) would otherwise hold the caller for as
    /// long as TCP retries: past it the connection is closed, which fails the statement, and the
    /// next use connects again.
    static let statementTimeout = TimeAmount.seconds(30)

    /// Waits for `result`, at most `statementTimeout`: then the connection is closed and the
    /// wait fails, even if `result` never completes (the fault suite caught a query whose
    /// connection died without ever failing it).
    static func bounded<T: Sendable>(_ connection: PostgresConnection, _ result: EventLoopFuture<T>) throws -> T {
        let outcome = connection.eventLoop.makePromise(of: T.self)
        result.cascade(to: outcome)
        let timeout = connection.eventLoop.scheduleTask(in: statementTimeout) {
            let _: EventLoopFuture<Void> = connection.close()
            outcome.fail(StatementTimedOut())   // a no-op if the statement finished first
        }
        defer { timeout.cancel() }
        return try outcome.futureResult.wait()
    }

    private static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Data(try cell.decode(ByteBuffer.self).readableBytesView))
        default: return .text(try cell.decode(String.self))
        }
    }
}
