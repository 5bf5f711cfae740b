/// What libvirt reports on every host: the observed state the planner compares desired state with.
public struct ObservedFleet: Sendable, Equatable {
    public var hosts: [String: ObservedHost]

    public init(hosts: [ObservedHost]) {
        self.hosts = Dictionary(uniqueKeysWithValues: hosts.map { ($0.name, $0) })
    }
}

public struct ObservedHost: Sendable, Equatable {
    public var name: String
    /// nil when the host answered; otherwise why it could not be observed.
    public var unreachable: String?
    public var cpus: Int
    public var memoryBytes: UInt64
    /// Whether the host offers the `kvm` domain type (used when a Host says `domainType: auto`).
    public var offersKVM: Bool
    /// Template copies in the host's pool, by content digest.
    public var templates: [String: TemplateCopy]
    /// Domains that carry Drove's metadata, by name.
    public var vms: [String: ObservedVM]
    /// Names of domains on the host that are not Drove's: never touched, never reused.
    public var foreignDomains: Set<String>
    /// Drove-named VM disk volumes that no Drove domain on the host uses.
    public var strayVolumes: Set<String>
    /// For a host that does not answer: the Drove VMs that may be on it (those it held when
    /// last seen, and those being made there when it went dark). nil when that is not known
    /// (it was never seen): then any VM may be.
    public var mayHold: Set<String>?
    /// Golden snapshots in the host's pool, by key.
    public var goldens: [String: GoldenCopy]
    /// The hypervisor's version (QEMU's, as libvirt reports it): part of a golden snapshot's key.
    public var hypervisorVersion: UInt64

    public init(name: String, unreachable: String? = nil, cpus: Int = 0, memoryBytes: UInt64 = 0,
                offersKVM: Bool = false, templates: [String: TemplateCopy] = [:],
                vms: [String: ObservedVM] = [:], foreignDomains: Set<String> = [], strayVolumes: Set<String> = [],
                mayHold: Set<String>? = nil, goldens: [String: GoldenCopy] = [:], hypervisorVersion: UInt64 = 0) {
        self.name = name
        self.unreachable = unreachable
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.offersKVM = offersKVM
        self.templates = templates
        self.vms = vms
        self.foreignDomains = foreignDomains
        self.strayVolumes = strayVolumes
        self.mayHold = mayHold
        self.goldens = goldens
        self.hypervisorVersion = hypervisorVersion
    }

    public var isReachable: Bool { unreachable == nil }
}

/// One template copy in a host's pool. A copy is complete only once its upload finished and was
/// marked so; an incomplete copy is never used as a backing file.
public struct TemplateCopy: Sendable, Equatable {
    public var digest: String
    public var volume: String
    public var complete: Bool

    public init(digest: String, volume: String, complete: Bool) {
        self.digest = digest
        self.volume = volume
        self.complete = complete
    }
}

/// A domain Drove made, as read back from its metadata and libvirt's state.
public struct ObservedVM: Sendable, Equatable {
    public enum State: String, Sendable, Equatable { case running, stopped, other }

    public var name: String
    public var set: String
    public var ordinal: Int
    public var specHash: String
    public var templateDigest: String
    public var volume: String
    public var vcpus: Int
    public var memoryBytes: UInt64
    public var state: State
    /// The guest opened its agent channel: it booted and is up.
    public var agentConnected: Bool
    /// Its IP addresses, where libvirt can tell (DHCP leases, ARP), in NIC order.
    public var addresses: [String]
    /// It has NICs whose addresses libvirt can see (on a libvirt network or a bridge).
    public var addressable: Bool
    /// Drove volumes its disks name that are not in the pool (deleted behind Drove's back):
    /// such a VM is replaced.
    public var missingVolumes: [String]
    /// The golden snapshot its disk rests on (it was made to resume from it), if any.
    public var golden: String?

    public init(name: String, set: String, ordinal: Int, specHash: String, templateDigest: String,
                volume: String, vcpus: Int, memoryBytes: UInt64, state: State, agentConnected: Bool = false,
                addresses: [String] = [], addressable: Bool = false, missingVolumes: [String] = [], golden: String? = nil) {
        self.name = name
        self.set = set
        self.ordinal = ordinal
        self.specHash = specHash
        self.templateDigest = templateDigest
        self.volume = volume
        self.vcpus = vcpus
        self.memoryBytes = memoryBytes
        self.state = state
        self.agentConnected = agentConnected
        self.addresses = addresses
        self.addressable = addressable
        self.missingVolumes = missingVolumes
        self.golden = golden
    }
}
