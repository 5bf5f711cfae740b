import Foundation
import DroveManifest
import Logging

public enum EventType: String, Sendable, Hashable, CaseIterable {
    case normal = "Normal"
    case warning = "Warning"
}

/// One entry of the event log.
public struct Event: Sendable, Hashable, Identifiable {
    /// Increases with every event and is never reused; a watcher resumes after the last it saw.
    public var id: Int64
    public var time: Date
    /// What the event is about (a VMSet for its VMs).
    public var object: ObjectReference
    /// The libvirt host it happened on, if any.
    public var host: String?
    public var type: EventType
    /// CamelCase, machine-readable: `Created`, `CloneFailed`.
    public var reason: String
    /// For people: `created web-3 on node-b, linked clone of alpine@3f2a…, 41 ms`.
    public var message: String
    /// The user whose request caused it; nil for what the controller did on its own.
    public var actor: String?
}

/// An event to append; the store gives it its id, and its time unless one is set.
public struct NewEvent: Sendable, Hashable {
    public var object: ObjectReference
    public var host: String?
    public var type: EventType
    public var reason: String
    public var message: String
    public var time: Date?
    public var actor: String?

    public init(object: ObjectReference, host: String? = nil, type: EventType = .normal, reason: String, message: String, time: Date? = nil,
                actor: String? = nil) {
        self.actor = actor
        self.object = object
        self.host = host
        self.type = type
        self.reason = reason
        self.message = message
        self.time = time
    }
}

extension Store {
    /// Appends one event; see `appendEvents(_:)`.
    @discardableResult
    public func appendEvent(_ event: NewEvent) async throws(StoreError) -> Event {
        try await appendEvents([event])[0]
    }

    /// Appends events in one transaction. The object need not be stored (events outlive what
    /// they are about). When an appended id is a multiple of the retention's `trimInterval`, the
    /// same transaction trims the log to the retention's count and age.
    ///
    /// - Throws: `StoreError.invalidReason` for a reason that is not CamelCase.
    @discardableResult
    public func appendEvents(_ events: [NewEvent]) async throws(StoreError) -> [Event] {
        guard !events.isEmpty else { return [] }
        for event in events where !Self.isCamelCase(event.reason) {
            throw .invalidReason(event.object, reason: event.reason)
        }
        let now = now()
        let retention = options.eventRetention
        let logger = logger
        return try await write("appendEvents") { db in
            let appended = try Self.insert(events, now: now, retention: retention, logger: logger, db)
            db.publish(appended.map(StoreChange.eventAppended))
            return appended
        }
    }

    /// Inserts events in the caller's transaction, trimming the log when an id crosses a
    /// multiple of the retention's `trimInterval`. The caller publishes them.
    static func insert(_ events: [NewEvent], now: Int64, retention: EventRetention, logger: Logger, _ db: any SQLTransaction) throws -> [Event] {
        guard !events.isEmpty else { return [] }
        var appended: [Event] = []
        for event in events {
            var row = EventRow(id: nil, time: event.time.map(Millis.from) ?? now, kind: event.object.kind.rawValue,
                               name: event.object.name, host: event.host, type: event.type.rawValue,
                               reason: event.reason, message: event.message, actor: event.actor)
            try row.insert(db)
            appended.append(try row.event())
        }
        let first = appended.first!.id, last = appended.last!.id
        let interval = Int64(retention.trimInterval)
        if (first - 1) / interval != last / interval {
            let removed = try Self.trim(db, retention: retention, now: now)
            if removed > 0 { logger.debug("events trimmed", metadata: ["store.events.removed": "\(removed)"]) }
        }
        return appended
    }

    /// Events with an id greater than `id`, oldest first, at most `limit`; only those about
    /// `object` if it is set. A watcher pages with the last id it got.
    public func events(after id: Int64 = 0, limit: Int = 100, object: ObjectReference? = nil) async throws(StoreError) -> [Event] {
        let limit = max(0, limit)
        return try await read("events") { db in
            let rows: [SQLRow]
            if let object {
                rows = try db.rows("""
                    SELECT \(EventRow.columns) FROM event WHERE kind = ? AND name = ? AND id > ? ORDER BY id LIMIT ?
                    """, [object.kind.rawValue, object.name, id, limit])
            } else {
                rows = try db.rows("SELECT \(EventRow.columns) FROM event WHERE id > ? ORDER BY id LIMIT ?", [id, limit])
            }
            return try rows.map { try EventRow($0).event() }
        }
    }

    /// The newest `limit` events (about `object` if it is set), oldest first: what
    /// `drove describe` shows.
    public func latestEvents(limit: Int = 20, object: ObjectReference? = nil) async throws(StoreError) -> [Event] {
        let limit = max(0, limit)
        return try await read("latestEvents") { db in
            let rows: [SQLRow]
            if let object {
                rows = try db.rows("""
                    SELECT \(EventRow.columns) FROM event WHERE kind = ? AND name = ? ORDER BY id DESC LIMIT ?
                    """, [object.kind.rawValue, object.name, limit])
            } else {
                rows = try db.rows("SELECT \(EventRow.columns) FROM event ORDER BY id DESC LIMIT ?", [limit])
            }
            return try rows.reversed().map { try EventRow($0).event() }
        }
    }

    /// Trims the log to the retention now, whatever the ids; the store also does this on
    /// append. Returns how many events were removed.
    @discardableResult
    public func trimEvents() async throws(StoreError) -> Int {
        let now = now()
        let retention = options.eventRetention
        return try await write("trimEvents") { db in try Self.trim(db, retention: retention, now: now) }
    }

    /// Two indexed deletes: below the id of the `maxCount + 1`-th newest event, and older
    /// than `maxAge`.
    static func trim(_ db: any SQLTransaction, retention: EventRetention, now: Int64) throws -> Int {
        var removed = 0
        if let maxCount = retention.maxCount {
            removed += try db.execute("""
                DELETE FROM event WHERE id <= (SELECT id FROM event ORDER BY id DESC LIMIT 1 OFFSET ?)
                """, [maxCount])
        }
        if let maxAge = retention.maxAge {
            removed += try db.execute("DELETE FROM event WHERE time < ?", [now - Int64(maxAge * 1000)])
        }
        return removed
    }
}
