import DroveManifest
import Foundation

// The JSON bodies of the API (see docs/api.md): the server encodes them, DroveClient decodes the
// same types, so the two cannot drift apart.

/// Paths and names shared by the server and its clients.
public enum APIPaths {
    public static let base = "/api/v1"

    /// The path segment of a kind: `hosts`, `templates`, `vmsets`, `gitsources`.
    public static func segment(_ kind: ObjectKind) -> String {
        switch kind {
        case .host: "hosts"
        case .template: "templates"
        case .vmSet: "vmsets"
        case .gitSource: "gitsources"
        }
    }

    /// The kind a path segment or command-line word names: plural or singular, any case
    /// (`vmsets`, `vmset`, `VMSet`, `hosts`, `Host`, `gitsources`); nil for anything else.
    public static func kind(_ word: String) -> ObjectKind? {
        switch word.lowercased() {
        case "hosts", "host": .host
        case "templates", "template": .template
        case "vmsets", "vmset": .vmSet
        case "gitsources", "gitsource": .gitSource
        default: nil
        }
    }

    public static let kindWords = "hosts, templates, vmsets or gitsources"

    /// `POST`: ask for a sync of a GitSource now (needs the bearer token).
    public static func sync(gitSource name: String) -> String { "\(base)/gitsources/\(name)/sync" }

    /// Where push webhooks for a GitSource go; authenticated by their signature, not the token.
    public static let users = "\(base)/users"
    public static let hooks = "\(base)/hooks"

    /// `PUT`: a template's image as the raw body, `?format=qcow2|raw&visibility=private|shared`.
    public static func templateImage(_ name: String) -> String { "\(base)/templates/\(name)/image" }

    /// `GET`: a VM's console log from `?offset=N`, as text.
    public static func consoleLog(vm name: String) -> String { "\(base)/vms/\(name)/log" }

    /// The response header of a console log that says where the next read continues.
    public static let logOffsetHeader = "Drove-Log-Offset"
}

/// JSON as the API writes and reads it: keys sorted, times in ISO 8601 with milliseconds (UTC).
public enum APIJSON {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(formatTime(date))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parseTime(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(text)\" is not an ISO 8601 time")
            }
            return date
        }
        return decoder
    }

    public static func formatTime(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    public static func parseTime(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}

// MARK: - Errors

/// Every error body: `{"error": "..."}` naming the object and the cause.
public struct APIErrorBody: Codable, Sendable, Hashable {
    public var error: String
    /// Manifest problems, for 422 answers to apply, plan and delete.
    public var errors: [APIDiagnostic]?

    public init(error: String, errors: [APIDiagnostic]? = nil) {
        self.error = error
        self.errors = errors
    }
}

/// One manifest problem, as `drove validate -o json` reports it.
public struct APIDiagnostic: Codable, Sendable, Hashable {
    public var file: String
    public var line: Int
    public var column: Int
    /// `Kind/name`, as far as it is known.
    public var subject: String
    /// The dotted field path; empty for the whole document.
    public var path: String
    /// What kind of problem it is (`outOfRange`, `templateNotDeclared`, … a `DiagnosticCode`):
    /// for programs, which should not parse the message.
    public var code: String
    public var message: String
    /// The whole rendering: `file:line:column: Kind/name: path: message`.
    public var text: String

    public init(_ diagnostic: Diagnostic) {
        file = diagnostic.location.file
        line = diagnostic.location.line
        column = diagnostic.location.column
        subject = diagnostic.subject
        path = diagnostic.path
        code = diagnostic.code.rawValue
        message = diagnostic.message
        text = diagnostic.description
    }
}

// MARK: - Apply, plan, delete

/// One manifest file sent to apply or plan (the JSON form of the body).
public struct APISource: Codable, Sendable, Hashable {
    /// How diagnostics name it (a path as the user typed it, or `<stdin>`).
    public var name: String
    public var text: String
    /// The absolute directory relative template paths resolve against, on the server's
    /// machine; the server's working directory when absent.
    public var baseDirectory: String?

    public init(name: String, text: String, baseDirectory: String?) {
        self.name = name
        self.text = text
        self.baseDirectory = baseDirectory
    }
}

/// The JSON body of `POST /api/v1/apply` and `/plan`: several files at once.
public struct APISources: Codable, Sendable, Hashable {
    public var sources: [APISource]

    public init(sources: [APISource]) {
        self.sources = sources
    }
}

public struct APIApplyResult: Codable, Sendable, Hashable {
    public var kind: String
    public var name: String
    /// `created`, `configured` or `unchanged`.
    public var result: String
    public var generation: Int

    public init(kind: String, name: String, result: String, generation: Int) {
        self.kind = kind
        self.name = name
        self.result = result
        self.generation = generation
    }
}

public struct APIApplyResponse: Codable, Sendable, Hashable {
    public var results: [APIApplyResult]

    public init(results: [APIApplyResult]) {
        self.results = results
    }
}

public struct APIReference: Codable, Sendable, Hashable {
    /// `Host`, `Template` or `VMSet` (a path word such as `vmsets` is accepted too).
    public var kind: String
    public var name: String

    public init(kind: String, name: String) {
        self.kind = kind
        self.name = name
    }

    public init(_ reference: ObjectReference) {
        self.init(kind: reference.kind.rawValue, name: reference.name)
    }
}

/// The body of `POST /api/v1/delete`: objects deleted together, in one transaction.
public struct APIDeleteRequest: Codable, Sendable, Hashable {
    public var objects: [APIReference]

    public init(objects: [APIReference]) {
        self.objects = objects
    }
}

public struct APIDeleteResult: Codable, Sendable, Hashable {
    public var kind: String
    public var name: String
    /// `deletionRequested`, `alreadyRequested` or `notFound`.
    public var result: String

    public init(kind: String, name: String, result: String) {
        self.kind = kind
        self.name = name
        self.result = result
    }
}

public struct APIDeleteResponse: Codable, Sendable, Hashable {
    public var results: [APIDeleteResult]

    public init(results: [APIDeleteResult]) {
        self.results = results
    }
}

public struct APIPlanAction: Codable, Sendable, Hashable {
    public var id: Int
    public var host: String
    /// A short verb: `copy-template`, `create-disk`, `define`, `start`, `stop`, `remove`, …
    public var action: String
    public var summary: String
    public var dependsOn: [Int]

    public init(id: Int, host: String, action: String, summary: String, dependsOn: [Int]) {
        self.id = id
        self.host = host
        self.action = action
        self.summary = summary
        self.dependsOn = dependsOn
    }
}

public struct APIUnschedulable: Codable, Sendable, Hashable {
    public var vm: String
    /// Why, for programs: `templateUnreadable`, `mayBeOnUnreachableHost`, `noMatchingHost`,
    /// `matchingHostsUnreachable`, `noRoom`, `networkNotOffered`.
    public var cause: String?
    /// Why, for people.
    public var reason: String

    public init(vm: String, cause: String? = nil, reason: String) {
        self.vm = vm
        self.cause = cause
        self.reason = reason
    }
}

public struct APIPlan: Codable, Sendable, Hashable {
    public var actions: [APIPlanAction]
    public var unschedulable: [APIUnschedulable]
    public var notes: [String]

    public init(actions: [APIPlanAction], unschedulable: [APIUnschedulable], notes: [String]) {
        self.actions = actions
        self.unschedulable = unschedulable
        self.notes = notes
    }
}

// MARK: - Objects

public struct APICondition: Codable, Sendable, Hashable {
    /// `Ready`, `Progressing` or `Degraded`.
    public var type: String
    /// `True`, `False` or `Unknown`.
    public var status: String
    public var reason: String
    public var message: String
    public var lastTransitionTime: Date

    public init(type: String, status: String, reason: String, message: String, lastTransitionTime: Date) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.lastTransitionTime = lastTransitionTime
    }
}

public struct APIStatus: Codable, Sendable, Hashable {
    public var observedGeneration: Int
    /// `Ready`, `Available` (VM sets), `Progressing`, `Degraded`.
    public var conditions: [APICondition]
    /// For a VM set: `desired`, `present`, `running`, `ready`, `updated`, `unknown`; for a
    /// template: hosts `present`, `copying`, `missing`, `failed`.
    public var counters: [String: Int]
    /// A VM set's readiness source: `agent` (its guests said they are up) or `running`.
    public var readiness: String?
    /// A template's copy on each host, by host name.
    public var hosts: [String: APITemplateCopy]?
    /// A GitSource's revisions and syncs.
    public var git: APIGitSourceStatus?
    public var updatedAt: Date

    public init(observedGeneration: Int, conditions: [APICondition], counters: [String: Int], readiness: String? = nil,
                hosts: [String: APITemplateCopy]? = nil, git: APIGitSourceStatus? = nil, updatedAt: Date) {
        self.observedGeneration = observedGeneration
        self.conditions = conditions
        self.counters = counters
        self.readiness = readiness
        self.hosts = hosts
        self.git = git
        self.updatedAt = updatedAt
    }

    public func condition(_ type: String) -> APICondition? {
        conditions.first { $0.type == type }
    }
}

/// Where a GitSource stands (docs/gitops.md).
public struct APIGitSourceStatus: Codable, Sendable, Hashable {
    /// The newest revision fetched for the source's ref.
    public var fetchedRevision: String?
    /// The revision whose objects the controller holds: what the fleet is made to match.
    public var appliedRevision: String?
    /// The revision last tried, and why it was not applied (absent when it was).
    public var attemptedRevision: String?
    public var attemptError: String?
    /// Every problem of the attempted revision's manifests, paths relative to the repository.
    public var errors: [APIDiagnostic]?
    /// When the last sync started (it saw the repository as it was then), and when the next is due.
    public var lastSyncAt: Date?
    public var nextSyncAt: Date?
    /// Objects the source owns.
    public var objects: Int
    /// Every VM set the source owns is Ready at the generation the applied revision gave it.
    public var converged: Bool
    /// The owned VM sets not Ready yet.
    public var waitingFor: [String]?

    public init(fetchedRevision: String?, appliedRevision: String?, attemptedRevision: String?, attemptError: String?,
                errors: [APIDiagnostic]?, lastSyncAt: Date?, nextSyncAt: Date?, objects: Int, converged: Bool, waitingFor: [String]?) {
        self.fetchedRevision = fetchedRevision
        self.appliedRevision = appliedRevision
        self.attemptedRevision = attemptedRevision
        self.attemptError = attemptError
        self.errors = errors
        self.lastSyncAt = lastSyncAt
        self.nextSyncAt = nextSyncAt
        self.objects = objects
        self.converged = converged
        self.waitingFor = waitingFor
    }
}

/// The answer to `POST /api/v1/gitsources/{name}/sync` and to a webhook.
public struct APISyncResponse: Codable, Sendable, Hashable {
    public var name: String
    /// `requested`, or `ignored` (a webhook for another branch, or a ping).
    public var result: String
    /// When the sync was asked for: the sync that answers it has `lastSyncAt` at or after it.
    public var requestedAt: Date?
    public var message: String?

    public init(name: String, result: String, requestedAt: Date?, message: String? = nil) {
        self.name = name
        self.result = result
        self.requestedAt = requestedAt
        self.message = message
    }
}

/// One template's copy on one host.
public struct APITemplateCopy: Codable, Sendable, Hashable {
    /// `Present`, `Copying`, `Missing` or `Failed`.
    public var state: String
    /// Bytes sent so far, while copying.
    public var bytes: UInt64?
    public var totalBytes: UInt64?
    public var percent: Int?
    public var bytesPerSecond: UInt64?
    /// Why it failed, naming the host and libvirt's words.
    public var message: String?

    public init(state: String, bytes: UInt64? = nil, totalBytes: UInt64? = nil, percent: Int? = nil,
                bytesPerSecond: UInt64? = nil, message: String? = nil) {
        self.state = state
        self.bytes = bytes
        self.totalBytes = totalBytes
        self.percent = percent
        self.bytesPerSecond = bytesPerSecond
        self.message = message
    }
}

public struct APIObject: Codable, Sendable, Hashable {
    public var kind: String
    public var name: String
    public var labels: [String: String]
    public var generation: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var deletionRequested: Bool
    public var deletionRequestedAt: Date?
    /// The YAML document it was applied as.
    public var manifest: String
    public var baseDirectory: String
    /// A few spec fields for tables (a VM set's `template` and `replicas`, a template's `path`
    /// and `format`, a host's `uri` and `pool`); absent for an object being deleted.
    public var summary: [String: String]?
    /// Nil until the controller has written one.
    public var status: APIStatus?
    /// The GitSource that applied and owns it; absent for an object applied by hand.
    public var source: String?
    /// The revision of `source` that last applied it.
    public var revision: String?
    /// The user whose request created it; absent for objects made by a GitSource or before
    /// users existed.
    public var owner: String?

    public init(
        kind: String, name: String, labels: [String: String], generation: Int, createdAt: Date, updatedAt: Date,
        deletionRequested: Bool, deletionRequestedAt: Date?, manifest: String, baseDirectory: String,
        summary: [String: String]?, status: APIStatus?, source: String? = nil, revision: String? = nil, owner: String? = nil
    ) {
        self.owner = owner
        self.source = source
        self.revision = revision
        self.kind = kind
        self.name = name
        self.labels = labels
        self.generation = generation
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletionRequested = deletionRequested
        self.deletionRequestedAt = deletionRequestedAt
        self.manifest = manifest
        self.baseDirectory = baseDirectory
        self.summary = summary
        self.status = status
    }

    public var reference: String { "\(kind)/\(name)" }
}

public struct APIObjectList: Codable, Sendable, Hashable {
    public var items: [APIObject]

    public init(items: [APIObject]) {
        self.items = items
    }
}

public struct APIVMList: Codable, Sendable, Hashable {
    public var items: [VMSummary]

    public init(items: [VMSummary]) {
        self.items = items
    }
}

// MARK: - Events and watching

public struct APIEvent: Codable, Sendable, Hashable {
    public var id: Int64
    public var time: Date
    public var kind: String
    public var name: String
    public var host: String?
    /// `Normal` or `Warning`.
    public var type: String
    public var reason: String
    public var message: String
    /// The user whose request caused it; absent for what the controller did on its own.
    public var actor: String?

    public init(id: Int64, time: Date, kind: String, name: String, host: String?, type: String, reason: String, message: String,
                actor: String? = nil) {
        self.actor = actor
        self.id = id
        self.time = time
        self.kind = kind
        self.name = name
        self.host = host
        self.type = type
        self.reason = reason
        self.message = message
    }
}

public struct APIEventList: Codable, Sendable, Hashable {
    public var items: [APIEvent]
    /// Pass as `after` to get the events that follow.
    public var next: Int64

    public init(items: [APIEvent], next: Int64) {
        self.items = items
        self.next = next
    }
}

/// `event: object` on the watch stream.
public struct APIObjectChange: Codable, Sendable, Hashable {
    /// `applied` (created or configured), `deletionRequested` or `pruned` (gone).
    public var type: String
    public var kind: String
    public var name: String
    /// For `applied`: the generation now.
    public var generation: Int?

    public init(type: String, kind: String, name: String, generation: Int? = nil) {
        self.type = type
        self.kind = kind
        self.name = name
        self.generation = generation
    }
}

/// `event: status` on the watch stream: the status as it was read just after it changed.
public struct APIStatusChange: Codable, Sendable, Hashable {
    public var kind: String
    public var name: String
    public var status: APIStatus?

    public init(kind: String, name: String, status: APIStatus?) {
        self.kind = kind
        self.name = name
        self.status = status
    }
}

// MARK: - Users

/// `POST /api/v1/users`.
public struct APINewUser: Codable, Sendable, Hashable {
    public var name: String
    public var role: Role

    public init(name: String, role: Role) {
        self.name = name
        self.role = role
    }
}

public struct APIUser: Codable, Sendable, Hashable {
    public var name: String
    public var role: Role
    public var createdAt: Date
    public var createdBy: String
    /// When its token was made: its creation or its last rotation.
    public var rotatedAt: Date

    public init(name: String, role: Role, createdAt: Date, createdBy: String, rotatedAt: Date) {
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.rotatedAt = rotatedAt
    }
}

public struct APIUserList: Codable, Sendable, Hashable {
    public var items: [APIUser]

    public init(items: [APIUser]) {
        self.items = items
    }
}

/// A user with its token: the answer to adding a user or rotating its token, the only time
/// the token is ever shown (the server keeps a hash).
public struct APIUserToken: Codable, Sendable, Hashable {
    public var user: APIUser
    public var token: String

    public init(user: APIUser, token: String) {
        self.user = user
        self.token = token
    }
}

/// The answer to a template push: the stored image and what became of the Template.
public struct APITemplatePushResponse: Codable, Sendable, Hashable {
    public var name: String
    /// `sha256:<hex>`, the image's name in the template store.
    public var digest: String
    /// Bytes of the image file.
    public var size: UInt64
    /// Bytes of the disk the guest sees.
    public var virtualSize: UInt64
    /// `qcow2` or `raw`.
    public var format: String
    /// What the apply did to the Template: `created`, `configured` or `unchanged`.
    public var result: String

    public init(name: String, digest: String, size: UInt64, virtualSize: UInt64, format: String, result: String) {
        self.name = name
        self.digest = digest
        self.size = size
        self.virtualSize = virtualSize
        self.format = format
        self.result = result
    }
}

// MARK: - Replicas

/// `GET /api/v1/controllers`: the `drove serve` replicas sharing the store, and which leads.
public struct APIControllerList: Codable, Sendable, Hashable {
    public var items: [APIController]
    /// The identity of the lease's holder, if its lease is running.
    public var leader: String?
    /// Seconds since the leader last renewed its lease, by the store's clock.
    public var leaseAgeSeconds: Double?
    /// How many times the lease changed hands.
    public var leaseTransitions: Int?
    /// The replica that answered.
    public var answeredBy: String

    public init(items: [APIController], leader: String?, leaseAgeSeconds: Double?, leaseTransitions: Int?, answeredBy: String) {
        self.items = items
        self.leader = leader
        self.leaseAgeSeconds = leaseAgeSeconds
        self.leaseTransitions = leaseTransitions
        self.answeredBy = answeredBy
    }
}

public struct APIController: Codable, Sendable, Hashable {
    public var id: String
    /// Where its API listens.
    public var address: String
    public var leader: Bool
    public var startedAt: Date
    /// Seconds since it last reported itself (every lease attempt, 2 s by default).
    public var lastSeenSecondsAgo: Double

    public init(id: String, address: String, leader: Bool, startedAt: Date, lastSeenSecondsAgo: Double) {
        self.id = id
        self.address = address
        self.leader = leader
        self.startedAt = startedAt
        self.lastSeenSecondsAgo = lastSeenSecondsAgo
    }
}

/// What `/healthz` says of the replica that answers.
public struct APIHealth: Codable, Sendable, Hashable {
    public enum Role: String, Codable, Sendable {
        case leader, follower
    }

    public var identity: String
    public var role: Role
    public var leader: String?
    public var leaseAgeSeconds: Double?

    public init(identity: String, role: Role, leader: String?, leaseAgeSeconds: Double?) {
        self.identity = identity
        self.role = role
        self.leader = leader
        self.leaseAgeSeconds = leaseAgeSeconds
    }
}
