import Foundation
import DroveManifest

// Rows as stored. Column names are the property names (see Schema/).

struct ObjectRow: Sendable {
    static let columns = "kind, name, manifest, baseDirectory, spec, labels, template, generation, createdAt, updatedAt, "
        + "deletionRequestedAt, source, revision, owner"

    var kind: String
    var name: String
    var manifest: String
    var baseDirectory: String
    var spec: String
    var labels: String
    var template: String?
    var generation: Int
    var createdAt: Int64
    var updatedAt: Int64
    var deletionRequestedAt: Int64?
    var source: String?
    var revision: String?
    var owner: String?

    init(kind: String, name: String, manifest: String, baseDirectory: String, spec: String, labels: String, template: String?,
         generation: Int, createdAt: Int64, updatedAt: Int64, deletionRequestedAt: Int64?, source: String?, revision: String?,
         owner: String?) {
        self.kind = kind
        self.name = name
        self.manifest = manifest
        self.baseDirectory = baseDirectory
        self.spec = spec
        self.labels = labels
        self.template = template
        self.generation = generation
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletionRequestedAt = deletionRequestedAt
        self.source = source
        self.revision = revision
        self.owner = owner
    }

    init(_ row: SQLRow) throws {
        self.init(kind: try row.string("kind"), name: try row.string("name"), manifest: try row.string("manifest"),
                  baseDirectory: try row.string("baseDirectory"), spec: try row.string("spec"), labels: try row.string("labels"),
                  template: try row.optionalString("template"), generation: try row.int("generation"),
                  createdAt: try row.int64("createdAt"), updatedAt: try row.int64("updatedAt"),
                  deletionRequestedAt: try row.optionalInt64("deletionRequestedAt"), source: try row.optionalString("source"),
                  revision: try row.optionalString("revision"), owner: try row.optionalString("owner"))
    }

    var values: [any SQLBindable] {
        [kind, name, manifest, baseDirectory, spec, labels, template, generation, createdAt, updatedAt, deletionRequestedAt, source,
         revision, owner]
    }

    static func fetch(_ reference: ObjectReference, _ db: any SQLTransaction) throws -> ObjectRow? {
        try db.row("SELECT \(columns) FROM object WHERE kind = ? AND name = ?", [reference.kind.rawValue, reference.name])
            .map(ObjectRow.init)
    }

    static func fetchAll(_ db: any SQLTransaction, where condition: String = "TRUE", _ arguments: [any SQLBindable] = []) throws -> [ObjectRow] {
        try db.rows("SELECT \(columns) FROM object WHERE \(condition)", arguments).map(ObjectRow.init)
    }

    func insert(_ db: any SQLTransaction) throws {
        try db.execute("INSERT INTO object (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
    }

    func update(_ db: any SQLTransaction) throws {
        try db.execute("""
            UPDATE object SET manifest = ?, baseDirectory = ?, spec = ?, labels = ?, template = ?, generation = ?, createdAt = ?,
                updatedAt = ?, deletionRequestedAt = ?, source = ?, revision = ?, owner = ?
            WHERE kind = ? AND name = ?
            """, Array(values.dropFirst(2)) + [kind, name])
    }

    var reference: ObjectReference? {
        ObjectKind(rawValue: kind).map { ObjectReference(kind: $0, name: name) }
    }

    func stored() throws -> StoredObject {
        guard let reference else { throw RowError.unknownKind(kind) }
        return StoredObject(
            reference: reference, manifestText: manifest, baseDirectory: baseDirectory, specFingerprint: spec,
            labels: try JSONCoding.decode([String: String].self, from: labels), generation: generation,
            createdAt: Millis.date(createdAt), updatedAt: Millis.date(updatedAt),
            deletionRequestedAt: deletionRequestedAt.map(Millis.date), source: source, revision: revision, owner: owner)
    }
}

struct EventRow: Codable, Sendable {
    static let columns = "id, time, kind, name, host, type, reason, message, actor"

    var id: Int64?
    var time: Int64
    var kind: String
    var name: String
    var host: String?
    var type: String
    var reason: String
    var message: String
    var actor: String?

    init(id: Int64?, time: Int64, kind: String, name: String, host: String?, type: String, reason: String, message: String, actor: String?) {
        self.id = id
        self.time = time
        self.kind = kind
        self.name = name
        self.host = host
        self.type = type
        self.reason = reason
        self.message = message
        self.actor = actor
    }

    init(_ row: SQLRow) throws {
        self.init(id: try row.int64("id"), time: try row.int64("time"), kind: try row.string("kind"), name: try row.string("name"),
                  host: try row.optionalString("host"), type: try row.string("type"), reason: try row.string("reason"),
                  message: try row.string("message"), actor: try row.optionalString("actor"))
    }

    /// Inserts the row and takes the id the database gave it.
    mutating func insert(_ db: any SQLTransaction) throws {
        let inserted = try db.row("""
            INSERT INTO event (time, kind, name, host, type, reason, message, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
            """, [time, kind, name, host, type, reason, message, actor])
        id = try inserted?.int64("id")
    }

    func event() throws -> Event {
        guard let kind = ObjectKind(rawValue: kind) else { throw RowError.unknownKind(self.kind) }
        guard let type = EventType(rawValue: type) else { throw RowError.unknownValue("event type", type) }
        return Event(id: id ?? 0, time: Millis.date(time), object: ObjectReference(kind: kind, name: name),
                     host: host, type: type, reason: reason, message: message, actor: actor)
    }
}

struct UserRow: Sendable {
    static let columns = "name, role, tokenHash, createdAt, createdBy, rotatedAt"

    var name: String
    var role: String
    var tokenHash: Data
    var createdAt: Int64
    var createdBy: String
    var rotatedAt: Int64

    init(name: String, role: String, tokenHash: Data, createdAt: Int64, createdBy: String, rotatedAt: Int64) {
        self.name = name
        self.role = role
        self.tokenHash = tokenHash
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.rotatedAt = rotatedAt
    }

    init(_ row: SQLRow) throws {
        self.init(name: try row.string("name"), role: try row.string("role"), tokenHash: try row.data("tokenHash"),
                  createdAt: try row.int64("createdAt"), createdBy: try row.string("createdBy"), rotatedAt: try row.int64("rotatedAt"))
    }

    func insert(_ db: any SQLTransaction) throws {
        try db.execute("INSERT INTO \"user\" (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?)",
                       [name, role, tokenHash, createdAt, createdBy, rotatedAt])
    }

    func user() throws -> StoredUser {
        guard let role = UserRole(rawValue: role) else { throw RowError.unknownValue("role", role) }
        return StoredUser(name: name, role: role, tokenHash: [UInt8](tokenHash), createdAt: Millis.date(createdAt),
                          createdBy: createdBy, rotatedAt: Millis.date(rotatedAt))
    }
}

/// A row the schema's CHECK constraints should have kept out.
enum RowError: Error, CustomStringConvertible {
    case unknownKind(String)
    case unknownValue(String, String)
    case missingColumn(String)
    case wrongType(String, String)

    var description: String {
        switch self {
        case let .unknownKind(kind): "unknown kind \"\(kind)\" in a stored row"
        case let .unknownValue(what, value): "unknown \(what) \"\(value)\" in a stored row"
        case let .missingColumn(column): "no column \(column) in a stored row"
        case let .wrongType(column, type): "column \(column) of a stored row is not \(type)"
        }
    }
}

/// JSON for the small maps kept in text columns, keys sorted so equal maps are equal text.
enum JSONCoding {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
