import DroveManifest

/// One revision of a GitSource, to be applied as a whole.
public struct SourceRevision: Sendable {
    /// The GitSource's name.
    public var source: String
    /// The commit id.
    public var revision: String
    /// Every object the revision declares.
    public var objects: [AppliedObject]
    /// Mark for deletion the objects the source owns that the revision no longer declares.
    public var prune: Bool
    /// Accept a pruning that would leave the source owning nothing.
    public var allowEmpty: Bool
    /// The revision does not descend from the one applied before (a force-push, a reset): the
    /// objects it no longer declares are let go of (kept, as if applied by hand), never deleted.
    public var rewritten: Bool

    public init(source: String, revision: String, objects: [AppliedObject], prune: Bool, allowEmpty: Bool = false, rewritten: Bool = false) {
        self.source = source
        self.revision = revision
        self.objects = objects
        self.prune = prune
        self.allowEmpty = allowEmpty
        self.rewritten = rewritten
    }
}

/// What applying a revision did.
public struct RevisionResult: Sendable, Hashable {
    /// One per object of the revision, in its order.
    public var results: [ObjectReference: ApplyResult]
    /// Marked for deletion: owned, and no longer declared.
    public var pruned: [ObjectReference]
    /// Let go of after a rewritten history: kept, no longer owned.
    public var released: [ObjectReference]

    /// Created or configured.
    public var changed: [ObjectReference] {
        results.filter { $0.value != .unchanged }.map(\.key).sorted()
    }
}

extension Store {
    /// Applies a GitSource's revision in one transaction, all or nothing: every object it
    /// declares is created, configured or left unchanged and marked as owned by the source at
    /// this revision; with `prune`, the objects the source owns that the revision no longer
    /// declares are marked for deletion, and only those.
    ///
    /// - Throws: `StoreError.ownershipConflict` when the revision declares an object applied by
    ///   hand or owned by another source (every such object is named); `.wouldPruneEverything`
    ///   when pruning would take every object the source owns and `allowEmpty` is not set;
    ///   `.inUse` when a pruned Template is still named by a VM set that stays;
    ///   `.danglingReference`, `.duplicateInBatch`, `.invalidObject` as `apply` does. Nothing is
    ///   changed then.
    public func applyRevision(_ revision: SourceRevision) async throws(StoreError) -> RevisionResult {
        try Self.check(revision.objects)
        if let nested = revision.objects.first(where: { $0.reference.kind == .gitSource }) {
            throw .invalidObject(nested.reference, reason: "declared by GitSource/\(revision.source); a source's repository may not declare GitSources")
        }
        let now = now()
        return try await write("applyRevision") { db in
            var stored: [ObjectReference: ObjectRow] = [:]
            var conflicts: [OwnershipConflict] = []
            for object in revision.objects {
                guard let row = try ObjectRow.fetch(object.reference, db) else { continue }
                if row.source != revision.source { conflicts.append(OwnershipConflict(reference: object.reference, owner: row.source)) }
                stored[object.reference] = row
            }
            if !conflicts.isEmpty { throw StoreError.ownershipConflict(source: revision.source, conflicts: conflicts) }

            let declared = Set(revision.objects.map(\.reference))
            let owned = try ObjectRow.fetchAll(db, where: "source = ? AND deletionRequestedAt IS NULL", [revision.source])
                .compactMap(\.reference)
            let leaving = owned.filter { !declared.contains($0) }.sorted()
            if revision.prune, !revision.rewritten, !revision.allowEmpty, !owned.isEmpty, leaving.count == owned.count {
                throw StoreError.wouldPruneEverything(source: revision.source, revision: revision.revision, objects: owned.count)
            }

            var result = RevisionResult(results: [:], pruned: [], released: [])
            var changes: [StoreChange] = []
            for object in revision.objects {
                let (applied, change) = try Self.write(object, over: stored[object.reference], source: revision.source,
                                                       revision: revision.revision, now: now, db)
                result.results[object.reference] = applied
                if let change { changes.append(change) }
            }
            for reference in leaving {
                let key: [any SQLBindable] = [reference.kind.rawValue, reference.name]
                if revision.rewritten {
                    try db.execute("UPDATE object SET source = NULL, revision = NULL WHERE kind = ? AND name = ?", key)
                    result.released.append(reference)
                } else if revision.prune {
                    try db.execute("UPDATE object SET deletionRequestedAt = ?, updatedAt = ? WHERE kind = ? AND name = ?",
                                   [now, now] + key)
                    result.pruned.append(reference)
                    changes.append(.objectDeletionRequested(reference))
                }
            }
            try Self.checkTemplatesUnused(result.pruned, db)
            try Self.checkReferences(revision.objects, db)
            db.publish(changes)
            return result
        }
    }

    /// The objects `source` owns, desired or being deleted, by kind and name.
    public func objects(ownedBy source: String) async throws(StoreError) -> [StoredObject] {
        try await read("objectsOwnedBy") { db in
            try ObjectRow.fetchAll(db, where: "source = ?", [source])
                .map { try $0.stored() }.sorted { $0.reference < $1.reference }
        }
    }
}
