import Foundation
import DroveManifest

public enum ConditionType: String, Sendable, Hashable, CaseIterable, Comparable {
    /// The object is what its spec asks for (a VMSet: every replica ready and made from the
    /// current spec).
    case ready = "Ready"
    /// A VMSet has enough ready replicas to serve: at least `replicas - maxUnavailable`.
    case available = "Available"
    /// The controller is working towards the spec.
    case progressing = "Progressing"
    /// Something failed and keeps the object from being ready.
    case degraded = "Degraded"

    public static func < (lhs: ConditionType, rhs: ConditionType) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

public enum ConditionStatus: String, Sendable, Hashable, CaseIterable {
    case `true` = "True"
    case `false` = "False"
    case unknown = "Unknown"
}

/// A condition as the controller reports it; the store adds the transition time.
public struct ConditionReport: Sendable, Hashable {
    public var status: ConditionStatus
    /// CamelCase, machine-readable: `AllReplicasReady`, `HostUnreachable`.
    public var reason: String
    /// For people: what is wrong, naming the object, the host and libvirt's own words.
    public var message: String

    public init(status: ConditionStatus, reason: String, message: String = "") {
        self.status = status
        self.reason = reason
        self.message = message
    }

    /// The controller's way: a reason from the closed set below, never made from a message.
    public init(_ status: ConditionStatus, _ reason: ConditionReason, _ message: String = "") {
        self.init(status: status, reason: reason.rawValue, message: message)
    }
}

/// Every reason the controller gives a condition. Clients may match on them; they are never
/// derived from message text.
public enum ConditionReason: String, Sendable, Hashable, CaseIterable {
    // A VM set's Ready.
    case allReplicasReady = "AllReplicasReady"
    case replicasNotReady = "ReplicasNotReady"
    case rollingOut = "RollingOut"
    case hostUnreachable = "HostUnreachable"
    case templateUnreadable = "TemplateUnreadable"
    case unschedulable = "Unschedulable"
    case deleting = "Deleting"
    // A VM set's Available.
    case minimumReplicasAvailable = "MinimumReplicasAvailable"
    case tooFewReplicasAvailable = "TooFewReplicasAvailable"
    // Progressing.
    case reconciling = "Reconciling"
    case waitingForGuests = "WaitingForGuests"
    case converged = "Converged"
    case copying = "Copying"
    // Degraded.
    case noProblems = "NoProblems"
    case actionsFailed = "ActionsFailed"
    case copyFailed = "CopyFailed"
    // A Host's Ready.
    case connected = "Connected"
    case unreachable = "Unreachable"
    /// A host lacks what Drove or its VM sets need (its pool, its domain type, a network).
    case hostCheckFailed = "HostCheckFailed"
    // A Template's Ready.
    case readable = "Readable"
    // A GitSource's Ready: the newest revision is applied, or why not.
    case revisionApplied = "RevisionApplied"
    case fetchFailed = "FetchFailed"
    case refNotFound = "RefNotFound"
    case invalidRevision = "InvalidRevision"
    case ownershipConflict = "OwnershipConflict"
    case pruneRefused = "PruneRefused"
    case applyFailed = "ApplyFailed"
    // A GitSource's Progressing: the fleet converging on the applied revision.
    case waitingForFleet = "WaitingForFleet"
    case suspended = "Suspended"
}

/// Every reason the controller gives an event.
public enum EventReason: String, Sendable, Hashable, CaseIterable {
    case templateCopied = "TemplateCopied"
    case templateCopyJoined = "TemplateCopyJoined"
    case diskCreated = "DiskCreated"
    case defined = "Defined"
    case started = "Started"
    case stopped = "Stopped"
    case removed = "Removed"
    case volumeDeleted = "VolumeDeleted"
    case templateDeleted = "TemplateDeleted"
    case goldenSnapshotMade = "GoldenSnapshotMade"
    case goldenSnapshotDeleted = "GoldenSnapshotDeleted"
    /// A VM that was to resume from a golden snapshot booted instead (the event says why).
    case bootedInstead = "BootedInstead"
    case actionFailed = "ActionFailed"
    case deleted = "Deleted"
    case hostConnected = "HostConnected"
    case hostUnreachable = "HostUnreachable"
    /// A started VM did not become ready within its set's readiness timeout.
    case readinessTimedOut = "ReadinessTimedOut"
    /// What a host lacks that its VM sets need (found when connecting).
    case hostCheckFailed = "HostCheckFailed"
    // A user's request (the event names the user).
    case applied = "Applied"
    case deletionRequested = "DeletionRequested"
    case syncRequested = "SyncRequested"
    // A GitSource's.
    case revisionApplied = "RevisionApplied"
    case revisionRefused = "RevisionRefused"
    case fetchFailed = "FetchFailed"
    case historyRewritten = "HistoryRewritten"
}

extension NewEvent {
    public init(object: ObjectReference, host: String? = nil, type: EventType = .normal, reason: EventReason, message: String) {
        self.init(object: object, host: host, type: type, reason: reason.rawValue, message: message)
    }
}

/// What a status says beyond conditions and counters.
public struct StatusDetails: Codable, Sendable, Hashable {
    /// A VM set's readiness source: `agent` (its guests said so) or `running`.
    public var readiness: String?
    /// A template's copy on each host, by host name.
    public var hosts: [String: TemplateCopyStatus]?
    /// A GitSource's revisions and syncs.
    public var git: GitSourceStatus?

    public init(readiness: String? = nil, hosts: [String: TemplateCopyStatus]? = nil, git: GitSourceStatus? = nil) {
        self.readiness = readiness
        self.hosts = hosts
        self.git = git
    }
}

/// Where a GitSource stands.
public struct GitSourceStatus: Codable, Sendable, Hashable {
    /// The newest revision fetched for the source's ref.
    public var fetchedRevision: String?
    /// The revision whose objects the store holds.
    public var appliedRevision: String?
    /// The revision last tried.
    public var attemptedRevision: String?
    /// Why the attempted revision was not applied; nil when it was.
    public var attemptError: String?
    /// Every problem of the attempted revision's manifests, with paths relative to the repository.
    public var diagnostics: [StoredDiagnostic]?
    /// When the last sync started (it saw the repository as it was then).
    public var lastSyncAt: Date?
    /// When the next sync is due.
    public var nextSyncAt: Date?
    /// Objects the source owns (not being deleted).
    public var objects: Int
    /// Every VM set the source owns is Ready at the generation the applied revision gave it.
    public var converged: Bool
    /// The owned VM sets not ready yet, when not converged.
    public var waitingFor: [String]?

    public init(fetchedRevision: String? = nil, appliedRevision: String? = nil, attemptedRevision: String? = nil,
                attemptError: String? = nil, diagnostics: [StoredDiagnostic]? = nil, lastSyncAt: Date? = nil,
                nextSyncAt: Date? = nil, objects: Int = 0, converged: Bool = false, waitingFor: [String]? = nil) {
        self.fetchedRevision = fetchedRevision
        self.appliedRevision = appliedRevision
        self.attemptedRevision = attemptedRevision
        self.attemptError = attemptError
        self.diagnostics = diagnostics
        self.lastSyncAt = lastSyncAt
        self.nextSyncAt = nextSyncAt
        self.objects = objects
        self.converged = converged
        self.waitingFor = waitingFor
    }
}

/// A manifest problem as a status keeps it.
public struct StoredDiagnostic: Codable, Sendable, Hashable {
    public var file: String
    public var line: Int
    public var column: Int
    public var subject: String
    public var path: String
    public var code: String
    public var message: String

    public init(_ diagnostic: Diagnostic) {
        file = diagnostic.location.file
        line = diagnostic.location.line
        column = diagnostic.location.column
        subject = diagnostic.subject
        path = diagnostic.path
        code = diagnostic.code.rawValue
        message = diagnostic.message
    }

    /// Back into a diagnostic; a code this build does not know reads as `invalidValue`.
    public var diagnostic: Diagnostic {
        Diagnostic(location: SourceLocation(file: file, line: line, column: column), subject: subject, path: path,
                   code: DiagnosticCode(rawValue: code) ?? .invalidValue, message: message)
    }
}

/// One template's copy on one host.
public struct TemplateCopyStatus: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable, Hashable, CaseIterable {
        case present = "Present"
        case copying = "Copying"
        case missing = "Missing"
        case failed = "Failed"
    }

    public var state: State
    /// Bytes sent so far (while copying).
    public var bytes: UInt64?
    /// The file's size.
    public var totalBytes: UInt64?
    public var bytesPerSecond: UInt64?
    /// Why it failed, naming the host and libvirt's words.
    public var message: String?

    public init(state: State, bytes: UInt64? = nil, totalBytes: UInt64? = nil, bytesPerSecond: UInt64? = nil, message: String? = nil) {
        self.state = state
        self.bytes = bytes
        self.totalBytes = totalBytes
        self.bytesPerSecond = bytesPerSecond
        self.message = message
    }

    /// Percent copied, while copying.
    public var percent: Int? {
        guard let bytes, let totalBytes, totalBytes > 0 else { return nil }
        return Int(min(100, bytes * 100 / totalBytes))
    }
}

/// A condition as stored.
public struct Condition: Sendable, Hashable {
    public var type: ConditionType
    public var status: ConditionStatus
    public var reason: String
    public var message: String
    /// When `status` last changed; a new reason or message with the same status keeps it.
    public var lastTransitionTime: Date
}

/// Well-known counter names for a VMSet's status.
public enum StatusCounter {
    public static let desired = "desired"
    public static let present = "present"
    public static let running = "running"
    public static let ready = "ready"
    /// Made from the current spec.
    public static let updated = "updated"
    public static let unknown = "unknown"
}

/// What the controller observed of one object after a pass.
public struct StatusUpdate: Sendable, Hashable {
    /// The generation the controller acted on.
    public var observedGeneration: Int
    /// The conditions now; a type left out is removed.
    public var conditions: [ConditionType: ConditionReport]
    /// Free-form counters (see `StatusCounter` for a VMSet's).
    public var counters: [String: Int]
    public var details: StatusDetails

    public init(observedGeneration: Int, conditions: [ConditionType: ConditionReport] = [:], counters: [String: Int] = [:],
                details: StatusDetails = StatusDetails()) {
        self.observedGeneration = observedGeneration
        self.conditions = conditions
        self.counters = counters
        self.details = details
    }
}

/// The stored status of one object.
public struct ObjectStatus: Sendable, Hashable {
    public var reference: ObjectReference
    public var observedGeneration: Int
    /// Ordered Ready, Progressing, Degraded.
    public var conditions: [Condition]
    public var counters: [String: Int]
    public var details: StatusDetails
    /// When the status last changed.
    public var updatedAt: Date

    public func condition(_ type: ConditionType) -> Condition? {
        conditions.first { $0.type == type }
    }
}

extension Store {
    /// Records an object's status. A condition's `lastTransitionTime` is now if its status
    /// flipped (or it is new) and is kept otherwise. Writing a status equal to the stored one
    /// writes nothing and notifies no watcher, so a controller may write on every pass.
    ///
    /// - Returns: the status as stored.
    /// - Throws: `StoreError.notFound` if the object is not stored (pruned, or never applied),
    ///   `.invalidReason` for a reason that is not CamelCase.
    @discardableResult
    public func setStatus(_ update: StatusUpdate, for reference: ObjectReference) async throws(StoreError) -> ObjectStatus {
        for (_, report) in update.conditions where !Self.isCamelCase(report.reason) {
            throw .invalidReason(reference, reason: report.reason)
        }
        let now = now()
        return try await write("setStatus") { db in
            guard try db.exists("SELECT 1 FROM object WHERE kind = ? AND name = ?", [reference.kind.rawValue, reference.name]) else {
                throw StoreError.notFound(reference)
            }
            let old = try Self.fetchStatus(db, reference)
            var conditions: [Condition] = []
            for type in ConditionType.allCases {
                guard let report = update.conditions[type] else { continue }
                let previous = old?.condition(type)
                let time = previous.flatMap { $0.status == report.status ? $0.lastTransitionTime : nil } ?? Millis.date(now)
                conditions.append(Condition(type: type, status: report.status, reason: report.reason,
                                            message: report.message, lastTransitionTime: time))
            }
            let status = ObjectStatus(reference: reference, observedGeneration: update.observedGeneration,
                                      conditions: conditions, counters: update.counters, details: update.details,
                                      updatedAt: Millis.date(now))
            if let old, old.observedGeneration == status.observedGeneration, old.conditions == status.conditions,
               old.counters == status.counters, old.details == status.details {
                return old
            }
            let key = (kind: reference.kind.rawValue, name: reference.name)
            try db.execute("""
                INSERT INTO status (kind, name, observedGeneration, counters, updatedAt, details) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (kind, name) DO UPDATE SET
                    observedGeneration = excluded.observedGeneration, counters = excluded.counters, updatedAt = excluded.updatedAt,
                    details = excluded.details
                """, [key.kind, key.name, update.observedGeneration, try JSONCoding.encode(update.counters), now,
                      try JSONCoding.encode(update.details)])
            try db.execute("DELETE FROM condition WHERE kind = ? AND name = ?", [key.kind, key.name])
            for condition in conditions {
                try db.execute("""
                    INSERT INTO condition (kind, name, type, status, reason, message, lastTransitionTime) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, [key.kind, key.name, condition.type.rawValue, condition.status.rawValue, condition.reason, condition.message,
                          Millis.from(condition.lastTransitionTime)])
            }
            db.publish([.statusChanged(reference)])
            return status
        }
    }

    /// The stored status of an object; nil if none was ever written.
    public func status(kind: ObjectKind, name: String) async throws(StoreError) -> ObjectStatus? {
        let reference = ObjectReference(kind: kind, name: name)
        return try await read("status") { db in try Self.fetchStatus(db, reference) }
    }

    static func fetchStatus(_ db: any SQLTransaction, _ reference: ObjectReference) throws -> ObjectStatus? {
        let key: [any SQLBindable] = [reference.kind.rawValue, reference.name]
        guard let row = try db.row("""
            SELECT observedGeneration, counters, updatedAt, details FROM status WHERE kind = ? AND name = ?
            """, key) else { return nil }
        let conditions = try db.rows("""
            SELECT type, status, reason, message, lastTransitionTime FROM condition WHERE kind = ? AND name = ?
            """, key)
            .map { row throws -> Condition in
                let type = try row.string("type"), status = try row.string("status")
                guard let type = ConditionType(rawValue: type) else { throw RowError.unknownValue("condition type", type) }
                guard let status = ConditionStatus(rawValue: status) else { throw RowError.unknownValue("condition status", status) }
                return Condition(type: type, status: status, reason: try row.string("reason"), message: try row.string("message"),
                                 lastTransitionTime: Millis.date(try row.int64("lastTransitionTime")))
            }
            .sorted { $0.type < $1.type }
        return ObjectStatus(reference: reference, observedGeneration: try row.int("observedGeneration"), conditions: conditions,
                            counters: try JSONCoding.decode([String: Int].self, from: try row.string("counters")),
                            details: try JSONCoding.decode(StatusDetails.self, from: try row.string("details")),
                            updatedAt: Millis.date(try row.int64("updatedAt")))
    }

    static func isCamelCase(_ reason: String) -> Bool {
        guard let first = reason.unicodeScalars.first, ("A"..."Z").contains(first) else { return false }
        return reason.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }
}
