import Foundation
import DroveManifest
import GRDB

// Rows as stored. Column names are the property names (see Schema/Migrations.swift).

struct ObjectRow: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "object"

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

    static func key(_ reference: ObjectReference) -> [String: (any DatabaseValueConvertible)?] {
        ["kind": reference.kind.rawValue, "name": reference.name]
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

struct StatusRow: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "status"

    var kind: String
    var name: String
    var observedGeneration: Int
    var counters: String
    var updatedAt: Int64
    var details: String
}

struct ConditionRow: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "condition"

    var kind: String
    var name: String
    var type: String
    var status: String
    var reason: String
    var message: String
    var lastTransitionTime: Int64
}

struct EventRow: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "event"

    var id: Int64?
    var time: Int64
    var kind: String
    var name: String
    var host: String?
    var type: String
    var reason: String
    var message: String
    var actor: String?

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    func event() throws -> Event {
        guard let kind = ObjectKind(rawValue: kind) else { throw RowError.unknownKind(self.kind) }
        guard let type = EventType(rawValue: type) else { throw RowError.unknownValue("event type", type) }
        return Event(id: id ?? 0, time: Millis.date(time), object: ObjectReference(kind: kind, name: name),
                     host: host, type: type, reason: reason, message: message, actor: actor)
    }
}

struct UserRow: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "user"

    var name: String
    var role: String
    var tokenHash: Data
    var createdAt: Int64
    var createdBy: String
    var rotatedAt: Int64

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

    var description: String {
        switch self {
        case let .unknownKind(kind): "unknown kind \"\(kind)\" in a stored row"
        case let .unknownValue(what, value): "unknown \(what) \"\(value)\" in a stored row"
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
