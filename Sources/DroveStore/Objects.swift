import Foundation
import DroveManifest
import GRDB

extension Store {
    /// Stores each object: created at generation 1, configured (generation +1 only if the spec
    /// changed), or unchanged. Applying an object marked for deletion cancels the deletion.
    /// All or nothing, in one transaction.
    ///
    /// - Returns: one result per object, in the order given.
    /// - Throws: `StoreError.duplicateInBatch` if an object appears twice, `.invalidObject` for
    ///   an empty manifest text or a relative base directory, `.danglingReference` if a VMSet
    ///   names a Template that is neither in the batch nor stored and desired, `.ownedBySource`
    ///   for an object a GitSource owns (see `applyRevision`). Nothing is changed then.
    public func apply(_ objects: [AppliedObject]) async throws(StoreError) -> [ApplyResult] {
        try Self.check(objects)
        let now = now()
        let hub = hub
        return try await write("apply") { db in
            var results: [ApplyResult] = []
            var changes: [StoreChange] = []
            for object in objects {
                let old = try ObjectRow.fetchOne(db, key: ObjectRow.key(object.reference))
                if let old, let source = old.source {
                    throw StoreError.ownedBySource(object.reference, source: source, revision: old.revision)
                }
                let (result, change) = try Self.write(object, over: old, source: nil, revision: nil, now: now, db)
                results.append(result)
                if let change { changes.append(change) }
            }
            try Self.checkReferences(objects, db)
            hub.publish(changes, after: db)
            return results
        }
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
    static func write(_ object: AppliedObject, over old: ObjectRow?, source: String?, revision: String?, now: Int64,
                      _ db: Database) throws -> (ApplyResult, StoreChange?) {
        let reference = object.reference
        let spec = object.object.specFingerprint
        let labels = try JSONCoding.encode(object.object.labels)
        var row = ObjectRow(
            kind: reference.kind.rawValue, name: reference.name, manifest: object.manifestText,
            baseDirectory: object.baseDirectory, spec: spec, labels: labels, template: object.object.templateName,
            generation: 1, createdAt: now, updatedAt: now, deletionRequestedAt: nil, source: source, revision: revision)
        guard let old else {
            try row.insert(db)
            return (.created, .objectApplied(reference, generation: row.generation))
        }
        if old.deletionRequestedAt == nil, old.spec == spec, old.labels == labels {
            if old.revision != revision {
                try db.execute(sql: "UPDATE object SET revision = ? WHERE kind = ? AND name = ?",
                               arguments: [revision, reference.kind.rawValue, reference.name])
            }
            return (.unchanged, nil)
        }
        row.createdAt = old.createdAt
        row.generation = old.spec == spec ? old.generation : old.generation + 1
        try row.update(db)
        return (.configured(generation: row.generation), .objectApplied(reference, generation: row.generation))
    }

    /// Every VM set applied names a Template that is stored and desired.
    static func checkReferences(_ objects: [AppliedObject], _ db: Database) throws {
        for object in objects {
            guard let template = object.object.templateName else { continue }
            let live = try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM object WHERE kind = 'Template' AND name = ? AND deletionRequestedAt IS NULL)
                """, arguments: [template]) ?? false
            if !live { throw StoreError.danglingReference(object.reference, template: template) }
        }
    }

    /// Marks one object for deletion; see `delete(_:)`.
    @discardableResult
    public func delete(kind: ObjectKind, name: String) async throws(StoreError) -> DeleteResult {
        try await delete([ObjectReference(kind: kind, name: name)])[0]
    }

    /// Marks objects for deletion, in one transaction. They leave `desiredState().manifest`
    /// at once and stay in `deleting` until the controller has pruned them and called
    /// `markPruned`. Their status and events are kept until then.
    ///
    /// - Throws: `StoreError.inUse` when a Template would be deleted while a VMSet that stays
    ///   names it (delete the VMSet in the same batch), `.ownedBySource` for an object a
    ///   GitSource owns (it goes when its repository stops declaring it), `.duplicateInBatch`.
    ///   Nothing is changed then.
    public func delete(_ references: [ObjectReference]) async throws(StoreError) -> [DeleteResult] {
        guard Set(references).count == references.count else {
            let duplicate = Dictionary(grouping: references, by: { $0 }).first { $0.value.count > 1 }!.key
            throw .duplicateInBatch(duplicate)
        }
        let now = now()
        let hub = hub
        return try await write("delete") { db in
            var results: [DeleteResult] = []
            var changes: [StoreChange] = []
            for reference in references {
                guard var row = try ObjectRow.fetchOne(db, key: ObjectRow.key(reference)) else {
                    results.append(.notFound)
                    continue
                }
                if let source = row.source {
                    throw StoreError.ownedBySource(reference, source: source, revision: row.revision)
                }
                if row.deletionRequestedAt != nil {
                    results.append(.alreadyRequested)
                    continue
                }
                row.deletionRequestedAt = now
                row.updatedAt = now
                try row.update(db)
                results.append(.deletionRequested)
                changes.append(.objectDeletionRequested(reference))
            }
            try Self.checkTemplatesUnused(references, db)
            hub.publish(changes, after: db)
            return results
        }
    }

    /// No Template among `references` is named by a VM set that stays.
    static func checkTemplatesUnused(_ references: [ObjectReference], _ db: Database) throws {
        for reference in references where reference.kind == .template {
            let users = try String.fetchAll(db, sql: """
                SELECT name FROM object
                WHERE kind = 'VMSet' AND template = ? AND deletionRequestedAt IS NULL ORDER BY name
                """, arguments: [reference.name])
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
        let hub = hub
        return try await write("markPruned") { db in
            try db.execute(sql: "DELETE FROM object WHERE kind = ? AND name = ? AND deletionRequestedAt IS NOT NULL",
                           arguments: [kind.rawValue, name])
            let removed = db.changesCount > 0
            if removed, kind == .gitSource {
                try db.execute(sql: "UPDATE object SET source = NULL, revision = NULL WHERE source = ?", arguments: [name])
            }
            if removed { hub.publish([.objectPruned(reference)], after: db) }
            return removed
        }
    }

    /// One stored object, desired or marked for deletion; nil if there is none.
    public func object(kind: ObjectKind, name: String) async throws(StoreError) -> StoredObject? {
        let reference = ObjectReference(kind: kind, name: name)
        return try await read("object") { db in
            try ObjectRow.fetchOne(db, key: ObjectRow.key(reference))?.stored()
        }
    }

    /// Stored objects of one kind (all kinds if nil), including those marked for deletion,
    /// ordered by kind, then name.
    public func objects(kind: ObjectKind? = nil) async throws(StoreError) -> [StoredObject] {
        try await read("objects") { db in
            let rows = try ObjectRow.fetchAll(db, sql: "SELECT * FROM object WHERE ?1 IS NULL OR kind = ?1 ORDER BY name",
                                              arguments: [kind?.rawValue])
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
        let deletingHosts = deleting.filter { $0.reference.kind == .host }.compactMap { object in
            ManifestLoader(policy: policy).check(sources: [
                ManifestSource(name: "store:\(object.reference)", text: object.manifestText, baseDirectory: object.baseDirectory),
            ]).manifest?.hosts.first
        }
        return DesiredState(
            manifest: manifest,
            generations: Dictionary(uniqueKeysWithValues: live.map { ($0.reference, $0.generation) }),
            deleting: deleting, deletingHosts: deletingHosts)
    }

    /// The desired objects alone; see `desiredState()`.
    public func desiredManifest(policy: ManifestPolicy) async throws(StoreError) -> Manifest {
        try await desiredState(policy: policy).manifest
    }
}
