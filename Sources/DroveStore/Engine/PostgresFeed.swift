import DroveManifest
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The change feed on PostgreSQL: every write's changes, as rows of the `change` table in
/// revision order, handed to this replica's watchers.
final class PostgresFeed: Sendable {
    let hub: ChangeHub
    private let session: PostgresSession
    private let listener: PostgresSession
    /// The last revision handed to the watchers.
    private let last = Mutex<Int64>(0)
    private let pokes: AsyncStream<Void>.Continuation
    private let pokeStream: AsyncStream<Void>
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let logger: Logger

    static let channel = "drove_changes"
    /// How many changes the table keeps: a replica that lost sight of the database for longer
    /// than it takes to write this many tells its watchers to read the state again.
    static let kept: Int64 = 10_000
    /// Trim once per this many revisions.
    static let trimInterval: Int64 = 1_000

    init(session: PostgresSession, listener: PostgresSession, bufferSize: Int, logger: Logger) {
        self.session = session
        self.listener = listener
        self.hub = ChangeHub(bufferSize: bufferSize)
        self.logger = logger
        (pokeStream, pokes) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Starts from the newest revision (watchers see changes from now on), then follows.
    func start() async throws {
        let newest = try await session.run { connection in
            try PostgresTransaction.run(connection, logger: self.logger, begin: "BEGIN READ ONLY") { transaction in
                try transaction.rows("SELECT coalesce(max(revision), 0) AS newest FROM change", [SQLValue]()).first?.int64("newest") ?? 0
            }
        }
        last.withLock { $0 = newest }
        let follow = Task { [self] in
            for await _ in pokeStream {
                do {
                    try await session.run { _ in try self.poll() }
                } catch {
                    logger.debug("store change feed: read failed", metadata: ["error": "\(error)"])
                }
            }
        }
        let tick = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                poke()
            }
        }
        let listening = Task { [self] in await listen() }
        tasks.withLock { $0 = [follow, tick, listening] }
    }

    /// Reads the table soon (after a write of this replica, or a notification).
    func poke() { pokes.yield() }

    /// Hands every change committed so far to the watchers, in the feed's turn.
    func catchUp() async {
        do {
            try await session.run { _ in try self.poll() }
        } catch {
            logger.debug("store change feed: read failed", metadata: ["error": "\(error)"])
            poke()
        }
    }

    /// The same, blocking the caller.
    func drain() {
        do {
            try session.runNow { _ in try poll() }
        } catch {
            logger.debug("store change feed: last read failed", metadata: ["error": "\(error)"])
        }
    }

    func stop() {
        pokes.finish()
        for task in tasks.withLock({ $0 }) { task.cancel() }
        hub.finishAll()
        session.close()
        listener.close()
    }

    /// LISTEN on a connection of its own, made again when lost; each notification is a poke.
    private func listen() async {
        while !Task.isCancelled {
            do {
                let connection = try await listener.run { $0 }
                try await connection.listen(on: Self.channel) { notifications in
                    poke()   // whatever was written while not listening
                    for try await _ in notifications { poke() }
                }
            } catch {
                logger.debug("store change feed: listen failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Reads the changes after the last revision seen and publishes them in order. When the
    /// table no longer holds all of them (trimmed while this replica could not read), every
    /// watcher's stream ends, so that it reads the state again.
    private func poll() throws {
        let connection = try session.connected()
        while true {
            let after = last.withLock { $0 }
            let (horizon, rows) = try PostgresTransaction.run(connection, logger: logger, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") {
                transaction in
                let horizon = try transaction.rows("SELECT revision FROM change_horizon", [SQLValue]()).first?.int64("revision") ?? 0
                let rows = try transaction.rows("SELECT revision, payload FROM change WHERE revision > ? ORDER BY revision LIMIT 1000",
                                                [.integer(max(after, horizon))])
                return (horizon, rows)
            }
            if after < horizon {
                logger.warning("store change feed: changes were trimmed before this replica read them; watchers start over",
                               metadata: ["store.revision": "\(after)", "store.horizon": "\(horizon)"])
                hub.endStreams()
                last.withLock { $0 = horizon }
            }
            guard !rows.isEmpty else { return }
            var changes: [StoreChange] = []
            for row in rows {
                let payload = try row.string("payload")
                changes.append(try ChangeRecord.decode(payload))
            }
            let newest = try rows[rows.count - 1].int64("revision")
            hub.yield(changes)
            last.withLock { $0 = newest }
            if rows.count < 1000 { return }
        }
    }

    /// In a write transaction: appends its changes, tells every replica on commit, and trims
    /// the table once in a while.
    static func append(_ changes: [StoreChange], _ connection: PostgresConnection, logger: Logger) throws {
        guard !changes.isEmpty else { return }
        let payloads = try changes.map(ChangeRecord.encode)
        let result = try PostgresTransaction.bounded(connection, connection.query(
            PostgresQuery(unsafeSQL: "INSERT INTO change (payload) SELECT unnest($1::text[]) RETURNING revision",
                          binds: { var binds = PostgresBindings(); binds.append(payloads); return binds }()),
            logger: logger))
        let revisions = try result.rows.map { try $0.decode(Int64.self) }
        _ = try PostgresTransaction.bounded(connection, connection.query("NOTIFY \(unescaped: channel)", logger: logger))
        guard let first = revisions.min(), let newest = revisions.max(), (first - 1) / trimInterval != newest / trimInterval else { return }
        let horizon = newest - kept
        guard horizon > 0 else { return }
        _ = try PostgresTransaction.bounded(connection, connection.query("DELETE FROM change WHERE revision <= \(horizon)", logger: logger))
        _ = try PostgresTransaction.bounded(connection, connection.query(
            "UPDATE change_horizon SET revision = greatest(revision, \(horizon))", logger: logger))
    }
}

/// A `StoreChange` as the `change` table keeps it (JSON).
struct ChangeRecord: Codable {
    var type: String
    var kind: String?
    var name: String?
    var generation: Int?
    var event: EventRow?

    static func encode(_ change: StoreChange) throws -> String {
        let record: ChangeRecord
        switch change {
        case let .objectApplied(reference, generation):
            record = ChangeRecord(type: "applied", kind: reference.kind.rawValue, name: reference.name, generation: generation)
        case let .objectDeletionRequested(reference):
            record = ChangeRecord(type: "deletionRequested", kind: reference.kind.rawValue, name: reference.name)
        case let .objectPruned(reference):
            record = ChangeRecord(type: "pruned", kind: reference.kind.rawValue, name: reference.name)
        case let .statusChanged(reference):
            record = ChangeRecord(type: "status", kind: reference.kind.rawValue, name: reference.name)
        case let .eventAppended(event):
            record = ChangeRecord(type: "event", event: EventRow(
                id: event.id, time: Millis.from(event.time), kind: event.object.kind.rawValue, name: event.object.name,
                host: event.host, type: event.type.rawValue, reason: event.reason, message: event.message, actor: event.actor))
        }
        return try JSONCoding.encode(record)
    }

    static func decode(_ text: String) throws -> StoreChange {
        let record = try JSONCoding.decode(ChangeRecord.self, from: text)
        if record.type == "event", let event = record.event { return .eventAppended(try event.event()) }
        guard let kindName = record.kind, let kind = ObjectKind(rawValue: kindName), let name = record.name else {
            throw RowError.unknownValue("change", text)
        }
        let reference = ObjectReference(kind: kind, name: name)
        switch record.type {
        case "applied": return .objectApplied(reference, generation: record.generation ?? 0)
        case "deletionRequested": return .objectDeletionRequested(reference)
        case "pruned": return .objectPruned(reference)
        case "status": return .statusChanged(reference)
        default: throw RowError.unknownValue("change type", record.type)
        }
    }
}
