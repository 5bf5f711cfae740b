import DroveManifest

/// Everything the store can fail with. Every case names the database file or the object it is
/// about, and the rendering (`description`) is one line fit for a log or an HTTP error body.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file is not a SQLite database, not a Drove store, or is damaged.
    case notAStore(path: String, reason: String)
    /// The file was written by a newer Drove: it holds migrations this build does not know.
    case newerSchema(path: String, unknownMigrations: [String])
    /// SQLite failed; `operation` is what the store was doing (`apply`, `setStatus`, …).
    case database(path: String, operation: String, message: String)
    /// The store was closed before this call.
    case closed(path: String)
    /// Another process holds the store's lock (SQLite's `SQLITE_BUSY`) past the wait: nothing
    /// was written.
    case locked(path: String, operation: String)
    /// The disk holding the store is full (`SQLITE_FULL`): nothing was written.
    case full(path: String, operation: String)
    /// The database server cannot be reached (PostgreSQL down, or the network to it cut):
    /// nothing was written.
    case unavailable(path: String, operation: String, message: String)
    /// A copy's target already holds objects, events or users.
    case notEmpty(path: String, holding: [String])
    /// `--store` names no store Drove knows how to open.
    case invalidLocation(String, reason: String)
    /// An object appears twice in one `apply` or `delete` batch.
    case duplicateInBatch(ObjectReference)
    /// An applied object is not fit to store (empty manifest text, a relative base directory).
    case invalidObject(ObjectReference, reason: String)
    /// A VMSet names a Template that is neither stored (and not being deleted) nor in the batch.
    case danglingReference(ObjectReference, template: String)
    /// A Template cannot be deleted while VMSets that are not being deleted name it.
    case inUse(ObjectReference, by: [ObjectReference])
    /// No such object.
    case notFound(ObjectReference)
    /// A condition reason must be CamelCase (`[A-Z][A-Za-z0-9]*`).
    case invalidReason(ObjectReference, reason: String)
    /// The stored manifest texts no longer load (a DroveManifest upgrade that tightened a rule).
    case storedManifestInvalid(path: String, diagnostics: [Diagnostic])
    /// A manifest text could not be paired with the document it came from.
    case documentNotFound(ObjectReference, reason: String)
    /// Applied or deleted by hand, but a GitSource owns it: it changes in that repository.
    case ownedBySource(ObjectReference, source: String, revision: String?)
    /// A source's revision declares objects it does not own (applied by hand, or by another
    /// source); it never overwrites them, so nothing of the revision is applied.
    case ownershipConflict(source: String, conflicts: [OwnershipConflict])
    /// A revision would prune every object its source owns, and the source does not allow that.
    case wouldPruneEverything(source: String, revision: String, objects: Int)
    /// A user who may change only its own objects asked to change another user's.
    case ownedByAnotherUser(ObjectReference, owner: String?, user: String)
    case userExists(String)

    public var description: String {
        switch self {
        case let .notAStore(path, reason):
            "\(path): not a Drove store: \(reason)"
        case let .newerSchema(path, unknown):
            "\(path): written by a newer Drove (unknown schema migrations: \(unknown.sorted().joined(separator: ", "))); upgrade drove or use another --data-dir"
        case let .database(path, operation, message):
            "\(path): \(operation): \(message)"
        case let .closed(path):
            "\(path): the store is closed"
        case let .locked(path, operation):
            "\(path): \(operation): another process holds the store's lock (another drove serve on this data directory?); nothing was written, try again"
        case let .full(path, operation):
            "\(path): \(operation): the disk holding the store is full; nothing was written, free space and try again"
        case let .unavailable(path, operation, message):
            "\(path): \(operation): the database server cannot be reached (\(message)); nothing was written, try again"
        case let .notEmpty(path, holding):
            "\(path): not empty (\(holding.joined(separator: ", "))); a copy goes only into an empty store"
        case let .invalidLocation(text, reason):
            "store \(text): \(reason)"
        case let .duplicateInBatch(reference):
            "\(reference): appears more than once in one request"
        case let .invalidObject(reference, reason):
            "\(reference): \(reason)"
        case let .danglingReference(reference, template):
            "\(reference): spec.template: Template \"\(template)\" is not stored (or is being deleted) and is not in this request"
        case let .inUse(reference, by):
            "\(reference): still used by \(by.map(\.description).joined(separator: ", ")); delete those first or in the same request"
        case let .notFound(reference):
            "\(reference): not found"
        case let .invalidReason(reference, reason):
            "\(reference): condition reason \"\(reason)\" is not CamelCase"
        case let .storedManifestInvalid(path, diagnostics):
            "\(path): the stored manifests no longer load:\n" + diagnostics.map(\.description).joined(separator: "\n")
        case let .documentNotFound(reference, reason):
            "\(reference): cannot find the YAML document it came from: \(reason)"
        case let .ownedBySource(reference, source, revision):
            "\(reference): owned by GitSource/\(source)\(revision.map { " (revision \($0.prefix(12)))" } ?? ""); change it in that repository"
        case let .ownershipConflict(source, conflicts):
            "GitSource/\(source): " + conflicts.map(\.description).joined(separator: "; ")
                + "; a source never overwrites an object it does not own: remove it from the repository, or delete it where it was applied first"
        case let .wouldPruneEverything(source, revision, objects):
            "GitSource/\(source): revision \(revision.prefix(12)) would prune all \(objects) objects the source owns; "
                + "refused (set spec.allowEmpty: true if that is meant)"
        case let .ownedByAnotherUser(reference, owner, user):
            "\(reference) belongs to \(owner.map { "user \($0)" } ?? "no user (an admin's, or older than users)"), not to \(user): "
                + "a deployer changes and deletes only the objects it created"
        case let .userExists(name):
            "user \(name) exists already (to give it a new token: drove users rotate \(name))"
        }
    }
}

/// One object a revision declares that its source does not own.
public struct OwnershipConflict: Sendable, Hashable, CustomStringConvertible {
    public var reference: ObjectReference
    /// The GitSource that owns it; nil when it was applied by hand.
    public var owner: String?

    public init(reference: ObjectReference, owner: String?) {
        self.reference = reference
        self.owner = owner
    }

    public var description: String {
        "\(reference) is \(owner.map { "owned by GitSource/\($0)" } ?? "applied by hand")"
    }
}
