/// Where a VM is in its life, as the controller last observed it.
public enum VMPhase: String, Sendable, Hashable, Codable, CaseIterable {
    /// Wanted, not yet created (waiting for a template copy, a host, or a slot).
    case pending = "Pending"
    /// Its disk or domain is being made.
    case creating = "Creating"
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

    public init(
        name: String, vmSet: String, ordinal: Int, host: String?, phase: VMPhase, ready: Bool,
        templateDigest: String? = nil, message: String? = nil
    ) {
        self.name = name
        self.vmSet = vmSet
        self.ordinal = ordinal
        self.host = host
        self.phase = phase
        self.ready = ready
        self.templateDigest = templateDigest
        self.message = message
    }
}
