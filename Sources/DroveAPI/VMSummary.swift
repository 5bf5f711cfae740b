/// Where a VM is in its life, as the controller last observed it.
public enum VMPhase: String, Sendable, Hashable, Codable, CaseIterable {
    /// Wanted, not yet created (waiting for a template copy, a host, or a slot).
    case pending = "Pending"
    /// Its disk or domain is being made.
    case creating = "Creating"
    /// Started, and its guest has not yet said it is up (templates with `readiness: agent`).
    case starting = "Starting"
    /// Running and ready.
    case running = "Running"
    case stopped = "Stopped"
    /// Being removed (scale down, replacement, deletion).
    case terminating = "Terminating"
    /// Its host does not answer; the VM may still run there (no fencing).
    case unknown = "Unknown"
    /// The last action on it failed; `message` says why.
    case failed = "Failed"
}

/// One VM, as `GET /api/v1/vms` lists it.
public struct VMSummary: Sendable, Hashable, Codable {
    /// `<set>-<ordinal>`.
    public var name: String
    public var vmSet: String
    public var ordinal: Int
    /// The libvirt host it is on; nil while it is placed nowhere.
    public var host: String?
    public var phase: VMPhase
    /// Running and its guest signalled readiness.
    public var ready: Bool
    /// The template digest its disk was cloned from, if known.
    public var templateDigest: String?
    /// For people: why it is not ready, or the last failure, naming host and cause.
    public var message: String?
    /// The guest's IP addresses as its host knows them, best first; empty while none is known
    /// (and in answers of servers that predate the field).
    public var addresses: [String]

    public init(
        name: String, vmSet: String, ordinal: Int, host: String?, phase: VMPhase, ready: Bool,
        templateDigest: String? = nil, message: String? = nil, addresses: [String] = []
    ) {
        self.name = name
        self.vmSet = vmSet
        self.ordinal = ordinal
        self.host = host
        self.phase = phase
        self.ready = ready
        self.templateDigest = templateDigest
        self.message = message
        self.addresses = addresses
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        vmSet = try container.decode(String.self, forKey: .vmSet)
        ordinal = try container.decode(Int.self, forKey: .ordinal)
        host = try container.decodeIfPresent(String.self, forKey: .host)
        phase = try container.decode(VMPhase.self, forKey: .phase)
        ready = try container.decode(Bool.self, forKey: .ready)
        templateDigest = try container.decodeIfPresent(String.self, forKey: .templateDigest)
        message = try container.decodeIfPresent(String.self, forKey: .message)
        addresses = try container.decodeIfPresent([String].self, forKey: .addresses) ?? []
    }
}

/// A piece of a VM's console log, as `GET /api/v1/vms/{name}/log` answers: the bytes from the
/// offset asked for, and the offset to ask for next.
public struct APIConsoleLog: Sendable, Hashable {
    public var bytes: [UInt8]
    public var nextOffset: UInt64

    public init(bytes: [UInt8], nextOffset: UInt64) {
        self.bytes = bytes
        self.nextOffset = nextOffset
    }
}
