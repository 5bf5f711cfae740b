import Foundation
import DroveManifest

extension Store {
    /// Stores each object: created at generation 1, configured (generation +1 only if the spec
    /// changed), or unchanged. Applying an object marked for deletion cancels the deletion.
    /// All or nothing, in one transaction.
    ///
    /// With an `author`, what it creates is owned by it, an author limited to its own objects
    /// may change no other, and every object created or changed gets an `Applied` event naming
    /// the author, in the same transaction.
    ///
    /// - Returns: one result per object, in the order given.
    /// - Throws: `StoreError.duplicateInBatch` if an object appears twice, `.invalidObject` for
    ///   an empty manifest text or a relative base directory, `.danglingReference` if a VMSet
    ///   names a Template that is neither in the batch nor stored and desired, `.ownedBySource`
    ///   for an object a GitSource owns (see `applyRevision`), `.ownedByAnotherUser`. Nothing is
    ///   changed then.
    public func apply(_ objects: [AppliedObject], author: ChangeAuthor? = nil) async throws(StoreError) -> [ApplyResult] {
        try Self.check(objects)
        let now = now()
        let retention = options.eventRetention, logger = logger
        return try await write("apply") { db in
            var results: [ApplyResult] = []
            var changes: [StoreChange] = []
            var audit: [NewEvent] = []
            for object in objects {
                let old = try ObjectRow.fetch(object.reference, db)
                if let old, let source = old.source {
                    throw StoreError.ownedBySource(object.reference, source: source, revision: old.revision)
                }
                if let old, let author { try author.checkMayChange(object.reference, owner: old.owner) }
                let (result, change) = try Self.write(object, over: old, source: nil, revision: nil, owner: author?.name, now: now, db)
                results.append(result)
                if let change { changes.append(change) }
                if let author, let event = Self.auditEvent(result, object.reference, by: author.name) { audit.append(event) }
            }
            try Self.checkReferences(objects, db)
            let events = try Self.insert(audit, now: now, retention: retention, logger: logger, db)
            db.publish(changes + events.map(StoreChange.eventAppended))
            return results
        }
    }

    static func auditEvent(_ result: ApplyResult, _ reference: ObjectReference, by author: String) -> NewEvent? {
        let message: String
        switch result {
        case .created: message = "created by \(author) (generation 1)"
        case let .configured(generation): message = "changed by \(author) (generation \(generation))"
        case .unchanged: return nil
        }
        return NewEvent(object: reference, reason: EventReason.applied.rawValue, message: message, actor: author)
    }

    /// What every applied object must be, checked before any write.
    static func check(_ objects: [AppliedObject]) throws(StoreError) {
        var seen = Set<ObjectReference>()
        for object in objects {
            guard seen.insert(object.reference).inserted else { throw .duplicateInBatch(object.reference) }
            if object.manifestText.allSatisfy(\.isWhitespace) {
                throw .invalidObject(object.reference, reason: "empty manifest text")
            }
            if !object.baseDirectory.hasPrefix("/") {
                throw .invalidObject(object.reference, reason: "base directory \"\(object.baseDirectory)\" is not absolute")
            }
        }
    }

    /// Writes one object over its stored row `old` (if any), owned by `source` at `revision`:
    /// created at generation 1, configured (generation +1 only if the spec changed), or
    /// unchanged. A change of owning revision alone is written without a change to publish.
    static func write(_ object: AppliedObject, over old: ObjectRow?, source: String?, revision: String?, owner: String? = nil, now: Int64,
                      _ db: any SQLTransaction) throws -> (ApplyResult, StoreChange?) {
        let reference = object.reference
        let spec = object.object.specFingerprint
        let labels = try JSONCoding.encode(object.object.labels)
        var row = ObjectRow(
            kind: reference.kind.rawValue, name: reference.name, manifest: object.manifestText,
            baseDirectory: object.baseDirectory, spec: spec, labels: labels, template: object.object.templateName,
            generation: 1, createdAt: now, updatedAt: now, deletionRequestedAt: nil, source: source, revision: revision, owner: owner)
        guard let old else {
            try row.insert(db)
            return (.created, .objectApplied(reference, generation: row.generation))
        }
        if old.deletionRequestedAt == nil, old.spec == spec, old.labels == labels {
            if old.revision != revision {
                try db.execute("UPDATE object SET revision = ? WHERE kind = ? AND name = ?",
                               [revision, reference.kind.rawValue, reference.name])
            }
            return (.unchanged, nil)
        }
        // Changing an object never changes who owns it.
        row.createdAt = old.createdAt
        row.owner = old.owner
        row.generation = old.spec == spec ? old.generation : old.generation + 1
        try row.update(db)
        return (.configured(generation: row.generation), .objectApplied(reference, generation: row.generation))
    }

    /// Every VM set applied names a Template that is stored and desired.
    static func checkReferences(_ objects: [AppliedObject], _ db: any SQLTransaction) throws {
        for object in objects {
            guard let template = object.object.templateName else { continue }
            let live = try db.exists("SELECT 1 FROM object WHERE kind = 'Template' AND name = ? AND deletionRequestedAt IS NULL",
                                     [template])
            if !live { throw StoreError.danglingReference(object.reference, template: template) }
        }
    }

    /// Marks one object for deletion; see `delete(_:)`.
    @discardableResult
    public func delete(kind: ObjectKind, name: String, author: ChangeAuthor? = nil) async throws(StoreError) -> DeleteResult {
        try await delete([ObjectReference(kind: kind, name: name)], author: author)[0]
    }

    /// Marks objects for deletion, in one transaction. They leave `desiredState().manifest`
    /// at once and stay in `deleting` until the controller has pruned them and called
    /// `markPruned`. Their status and events are kept until then.
    ///
    /// - Throws: `StoreError.inUse` when a Template would be deleted while a VMSet that stays
    ///   names it (delete the VMSet in the same batch), `.ownedBySource` for an object a
    ///   GitSource owns (it goes when its repository stops declaring it), `.duplicateInBatch`,
    ///   `.ownedByAnotherUser` (see `apply`). Nothing is changed then.
    public func delete(_ references: [ObjectReference], author: ChangeAuthor? = nil) async throws(StoreError) -> [DeleteResult] {
        guard Set(references).count == references.count else {
            let duplicate = Dictionary(grouping: references, by: { $0 }).first { $0.value.count > 1 }!.key
            throw .duplicateInBatch(duplicate)
        }
        let now = now()
        let retention = options.eventRetention, logger = logger
        return try await write("delete") { db in
            var results: [DeleteResult] = []
            var changes: [StoreChange] = []
            var audit: [NewEvent] = []
            for reference in references {
                guard var row = try ObjectRow.fetch(reference, db) else {
                    results.append(.notFound)
                    continue
                }
                if let source = row.source {
                    throw StoreError.ownedBySource(reference, source: source, revision: row.revision)
                }
                if let author { try author.checkMayChange(reference, owner: row.owner) }
                if row.deletionRequestedAt != nil {
                    results.append(.alreadyRequested)
                    continue
                }
                row.deletionRequestedAt = now
                row.updatedAt = now
                try row.update(db)
                results.append(.deletionRequested)
                changes.append(.objectDeletionRequested(reference))
                if let author {
                    audit.append(NewEvent(object: reference, reason: EventReason.deletionRequested.rawValue,
                                          message: "deletion requested by \(author.name)", actor: author.name))
                }
            }
            try Self.checkTemplatesUnused(references, db)
            let events = try Self.insert(audit, now: now, retention: retention, logger: logger, db)
            db.publish(changes + events.map(StoreChange.eventAppended))
            return results
        }
    }

    /// No Template among `references` is named by a VM set that stays.
    static func checkTemplatesUnused(_ references: [ObjectReference], _ db: any SQLTransaction) throws {
        for reference in references where reference.kind == .template {
            let users = try db.rows("""
                SELECT name FROM object
                WHERE kind = 'VMSet' AND template = ? AND deletionRequestedAt IS NULL ORDER BY name
                """, [reference.name]).map { try $0.string("name") }
            if !users.isEmpty {
                throw StoreError.inUse(reference, by: users.map { ObjectReference(kind: .vmSet, name: $0) })
            }
        }
    }

    /// Removes an object the controller has pruned, with its status. Only an object still
    /// marked for deletion is removed: one applied again meanwhile stays. A GitSource pruned
    /// lets go of its objects in the same transaction: they stay, as if applied by hand.
    ///
    /// - Returns: whether it was removed.
    @discardableResult
    public func markPruned(kind: ObjectKind, name: String) async throws(StoreError) -> Bool {
        let reference = ObjectReference(kind: kind, name: name)
        return try await write("markPruned") { db in
            let removed = try db.execute("DELETE FROM object WHERE kind = ? AND name = ? AND deletionRequestedAt IS NOT NULL",
                                         [kind.rawValue, name]) > 0
            if removed, kind == .gitSource {
                try db.execute("UPDATE object SET source = NULL, revision = NULL WHERE source = ?", [name])
            }
            if removed { db.publish([.objectPruned(reference)]) }
            return removed
        }
    }

    /// One stored object, desired or marked for deletion; nil if there is none.
    public func object(kind: ObjectKind, name: String) async throws(StoreError) -> StoredObject? {
        let reference = ObjectReference(kind: kind, name: name)
        return try await read("object") { db in
            try ObjectRow.fetch(reference, db)?.stored()
        }
    }

    /// Stored objects of one kind (all kinds if nil), including those marked for deletion,
    /// ordered by kind, then name.
    public func objects(kind: ObjectKind? = nil) async throws(StoreError) -> [StoredObject] {
        try await read("objects") { db in
            let rows = try kind.map { try ObjectRow.fetchAll(db, where: "kind = ?", [$0.rawValue]) } ?? ObjectRow.fetchAll(db)
            return try rows.map { try $0.stored() }.sorted { $0.reference < $1.reference }
        }
    }

    /// The desired objects, loaded again from their stored texts, and the objects being deleted,
    /// from one snapshot.
    ///
    /// - Throws: `StoreError.storedManifestInvalid` if the stored texts no longer load, for
    ///   instance under a stricter `policy` than the one they were applied under.
    public func desiredState(policy: ManifestPolicy) async throws(StoreError) -> DesiredState {
        let objects = try await objects()
        let live = objects.filter { !$0.deletionRequested }
        let sources = live.map { ManifestSource(name: "store:\($0.reference)", text: $0.manifestText, baseDirectory: $0.baseDirectory) }
        let result = ManifestLoader(policy: policy).check(sources: sources)
        guard let manifest = result.manifest else {
            throw .storedManifestInvalid(path: path, diagnostics: result.diagnostics)
        }
        // Each text must hold exactly the object it was stored as.
        let loaded = Set(manifest.references)
        for object in live where !loaded.contains(object.reference) {
            throw .storedManifestInvalid(path: path, diagnostics: [Diagnostic(
                location: SourceLocation(file: "store:\(object.reference)", line: 1, column: 1),
                subject: object.reference.description, path: "", code: .storeMismatch, message: "the stored text does not declare this object")])
        }
        if loaded.count != live.count || manifest.references.count != live.count {
            throw .storedManifestInvalid(path: path, diagnostics: [Diagnostic(
                location: SourceLocation(file: path, line: 1, column: 1), subject: "<store>", path: "", code: .storeMismatch,
                message: "the stored texts declare \(manifest.references.count) objects for \(live.count) rows")])
        }
        let deleting = objects.filter(\.deletionRequested)
        let deletedObjects = { (kind: ObjectKind) -> [Manifest] in
            deleting.filter { $0.reference.kind == kind }.compactMap { object in
                ManifestLoader(policy: policy).check(sources: [
                    ManifestSource(name: "store:\(object.reference)", text: object.manifestText, baseDirectory: object.baseDirectory),
                ]).manifest
            }
        }
        return DesiredState(
            manifest: manifest,
            generations: Dictionary(uniqueKeysWithValues: live.map { ($0.reference, $0.generation) }),
            deleting: deleting, deletingHosts: deletedObjects(.host).compactMap(\.hosts.first),
            deletingTemplates: deletedObjects(.template).compactMap(\.templates.first))
    }

    /// The desired objects alone; see `desiredState()`.
    public func desiredManifest(policy: ManifestPolicy) async throws(StoreError) -> Manifest {
        try await desiredState(policy: policy).manifest
    }
}

/// Who asks for a change: it owns what it creates and is named in the events the change records.
public struct ChangeAuthor: Sendable, Hashable {
    public var name: String
    /// False for a deployer: it may change and delete only the objects it owns.
    public var mayChangeAnyObject: Bool

    public init(name: String, mayChangeAnyObject: Bool) {
        self.name = name
        self.mayChangeAnyObject = mayChangeAnyObject
    }

    func checkMayChange(_ reference: ObjectReference, owner: String?) throws(StoreError) {
        guard mayChangeAnyObject || owner == name else { throw .ownedByAnotherUser(reference, owner: owner, user: name) }
    }
}
