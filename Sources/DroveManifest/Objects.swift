// The drove/v1 object model, with every default applied: consumers never see a missing value.

/// The one API version this module reads.
public let droveAPIVersion = "drove/v1"

/// The kinds of object a manifest can declare.
public enum ObjectKind: String, Sendable, Hashable, CaseIterable, Comparable {
    case host = "Host"
    case template = "Template"
    case vmSet = "VMSet"
    case gitSource = "GitSource"

    public static func < (lhs: ObjectKind, rhs: ObjectKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// `Kind/name`, how objects are named in diagnostics, references and logs.
public struct ObjectReference: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var kind: ObjectKind
    public var name: String

    public init(kind: ObjectKind, name: String) {
        self.kind = kind
        self.name = name
    }

    public var description: String { "\(kind.rawValue)/\(name)" }

    public static func < (lhs: ObjectReference, rhs: ObjectReference) -> Bool {
        (lhs.kind, lhs.name) < (rhs.kind, rhs.name)
    }
}

public struct ObjectMeta: Sendable, Hashable {
    /// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
    public var name: String
    public var labels: [String: String]

    public init(name: String, labels: [String: String] = [:]) {
        self.name = name
        self.labels = labels
    }
}

/// A label map that selects objects carrying all of its labels; the empty selector selects all.
public struct LabelSelector: Sendable, Hashable {
    public var matchLabels: [String: String]

    public init(_ matchLabels: [String: String] = [:]) {
        self.matchLabels = matchLabels
    }

    public func matches(_ labels: [String: String]) -> Bool {
        matchLabels.allSatisfy { labels[$0.key] == $0.value }
    }
}

// MARK: - Host

public struct Host: Sendable, Hashable {
    public var metadata: ObjectMeta
    public var spec: HostSpec

    public init(metadata: ObjectMeta, spec: HostSpec) {
        self.metadata = metadata
        self.spec = spec
    }
}

public enum DomainType: String, Sendable, Hashable, CaseIterable {
    /// `kvm` where the host's capabilities offer it, else `qemu`.
    case auto
    case kvm
    case qemu
}

public struct Overcommit: Sendable, Hashable {
    /// Virtual CPUs per physical CPU.
    public var cpu: Double
    /// Guest memory per byte of host memory.
    public var memory: Double

    public init(cpu: Double = 4, memory: Double = 1.0) {
        self.cpu = cpu
        self.memory = memory
    }
}

public struct HostSpec: Sendable, Hashable {
    /// A libvirt connection URI, e.g. `qemu+ssh://root@node-a/system`.
    public var uri: String
    /// The storage pool that holds template copies and clones.
    public var pool: String
    public var domainType: DomainType
    /// Concurrent libvirt operations on this host.
    public var maxParallel: Int
    /// Concurrent template copies to this host.
    public var maxTransfers: Int
    public var overcommit: Overcommit
    /// Guests booting at once (started, not yet ready): more only slows every boot down. Nil:
    /// one per CPU the host has (`BootGate`).
    public var maxBooting: Int?
    /// The libvirt networks this host offers: a VM on a network is placed only on hosts that
    /// offer it.
    public var networks: [String]
    /// The host bridges this host offers, likewise.
    public var bridges: [String]

    public init(
        uri: String, pool: String = "default", domainType: DomainType = .auto,
        maxParallel: Int = 4, maxTransfers: Int = 1, overcommit: Overcommit = Overcommit(),
        maxBooting: Int? = nil, networks: [String] = [], bridges: [String] = []
    ) {
        self.uri = uri
        self.pool = pool
        self.domainType = domainType
        self.maxParallel = maxParallel
        self.maxTransfers = maxTransfers
        self.overcommit = overcommit
        self.maxBooting = maxBooting
        self.networks = networks
        self.bridges = bridges
    }

    /// Whether a VM's NIC can attach here.
    public func offers(_ network: Network) -> Bool {
        switch network.type {
        case .user: true
        case .network: network.source.map(networks.contains) ?? false
        case .bridge: network.source.map(bridges.contains) ?? false
        }
    }
}

// MARK: - Template

public struct Template: Sendable, Hashable {
    public var metadata: ObjectMeta
    public var spec: TemplateSpec

    public init(metadata: ObjectMeta, spec: TemplateSpec) {
        self.metadata = metadata
        self.spec = spec
    }
}

public enum DiskFormat: String, Sendable, Hashable, CaseIterable {
    case qcow2
    case raw
}

public struct TemplateSource: Sendable, Hashable {
    /// The path as written in the manifest; `blob:sha256:<hex>` for a blob.
    public var path: String
    /// `path` made absolute against the directory of the manifest file that declared it
    /// (the working directory for standard input); for a blob, its file in the template store.
    /// Whether it exists is the deploy step's concern.
    public var resolvedPath: String
    /// `sha256:<hex>` when the image is a blob in the controller's template store: the file
    /// is the controller's own, and the digest is its content's.
    public var blobDigest: String?

    public init(path: String, resolvedPath: String, blobDigest: String? = nil) {
        self.path = path
        self.resolvedPath = resolvedPath
        self.blobDigest = blobDigest
    }
}

public enum PrecopyPolicy: String, Sendable, Hashable, CaseIterable {
    /// Copy to every host that will need the template, ahead of need.
    case eager
    /// Copy when a clone needs it.
    case onDemand
}

public struct Precopy: Sendable, Hashable {
    public var policy: PrecopyPolicy
    /// Also copy to the hosts this selects, whether or not they need it; nil selects none.
    public var hostSelector: LabelSelector?

    public init(policy: PrecopyPolicy = .eager, hostSelector: LabelSelector? = nil) {
        self.policy = policy
        self.hostSelector = hostSelector
    }
}

public struct TemplateSpec: Sendable, Hashable {
    public var source: TemplateSource
    public var format: DiskFormat
    public var precopy: Precopy
    public var readiness: Readiness
    /// Who besides its owner may use it.
    public var visibility: TemplateVisibility

    public init(source: TemplateSource, format: DiskFormat = .qcow2, precopy: Precopy = Precopy(), readiness: Readiness = .running,
                visibility: TemplateVisibility = .private) {
        self.source = source
        self.format = format
        self.precopy = precopy
        self.readiness = readiness
        self.visibility = visibility
    }
}

/// Who may see and use a template besides its owner (admins and viewers always may).
public enum TemplateVisibility: String, Sendable, Hashable, CaseIterable {
    case `private`
    /// Every user may see it and name it in its VM sets.
    case shared
}

/// How Drove can tell that a guest is up.
public enum Readiness: String, Sendable, Hashable, CaseIterable {
    /// The guest opened the QEMU guest agent channel once it had booted (qemu-guest-agent, or
    /// anything that opens `org.qemu.guest_agent.0`).
    case agent
    /// An IP address of the VM is known (a DHCP lease of a libvirt network, or ARP).
    case address
    /// No sign from the guest: a VM is ready once it runs.
    case running
}

// MARK: - VMSet

public struct VMSet: Sendable, Hashable {
    public var metadata: ObjectMeta
    public var spec: VMSetSpec

    public init(metadata: ObjectMeta, spec: VMSetSpec) {
        self.metadata = metadata
        self.spec = spec
    }
}

public enum CloneMode: String, Sendable, Hashable, CaseIterable {
    /// A qcow2 overlay backed by the template.
    case linked
    /// A full copy of the template.
    case full
}

/// How a VM of a set comes up.
public enum StartMode: String, Sendable, Hashable, CaseIterable {
    /// Its guest boots from its disk.
    case boot
    /// It resumes from the host's golden snapshot of its template: a guest booted once to
    /// ready and saved, restored under the VM's own identity (docs/instant-clones.md). A
    /// template that cannot take an identity after resuming boots instead.
    case snapshot
}

public enum CPUMode: String, Sendable, Hashable, CaseIterable {
    /// libvirt's default CPU model: what starts everywhere.
    case `default`
    case hostModel = "host-model"
    case hostPassthrough = "host-passthrough"
    case maximum
}

public struct Resources: Sendable, Hashable {
    public var vcpus: Int
    /// Guest memory in bytes.
    public var memory: UInt64
    public var cpuMode: CPUMode

    public init(vcpus: Int = 1, memory: UInt64 = 128 << 20, cpuMode: CPUMode = .default) {
        self.vcpus = vcpus
        self.memory = memory
        self.cpuMode = cpuMode
    }
}

public enum NetworkType: String, Sendable, Hashable, CaseIterable {
    /// User-mode networking (`<interface type='user'>`): no bridge or dnsmasq needed.
    case user
    /// A libvirt virtual network, named by `source`.
    case network
    /// A host bridge, named by `source`.
    case bridge
}

/// One NIC of a VM.
public struct Network: Sendable, Hashable {
    public var type: NetworkType
    /// The libvirt network or bridge name; nil for `user`.
    public var source: String?
    /// The NIC model, e.g. `virtio`.
    public var model: String
    /// A fixed MAC address (lowercase, colon-separated); nil derives a stable one from the set,
    /// the ordinal and the NIC's index (`MACAddress.derived`).
    public var mac: String?

    public init(type: NetworkType = .user, source: String? = nil, model: String = "virtio", mac: String? = nil) {
        self.type = type
        self.source = source
        self.model = model
        self.mac = mac
    }
}

/// A cloud-init NoCloud seed for every VM of a set. Drove writes `instance-id` and
/// `local-hostname` (`<set>-<ordinal>`) into meta-data itself.
public struct CloudInit: Sendable, Hashable {
    /// The user-data file as given (`#cloud-config`, a `#!` script, …). May hold secrets: it is
    /// shown only as a digest.
    public var userData: String
    /// More meta-data keys, written after Drove's own.
    public var metaData: [String: String]
    /// A network-config file (version 1 or 2), as given.
    public var networkConfig: String?

    public init(userData: String = "", metaData: [String: String] = [:], networkConfig: String? = nil) {
        self.userData = userData
        self.metaData = metaData
        self.networkConfig = networkConfig
    }

    /// SHA-256 of the seed's inputs (`sha256:<hex>`): what a changed seed changes in the spec
    /// hash, and how user data is shown.
    public var digest: String {
        var text = "user-data\u{0}\(userData)\u{0}network-config\u{0}\(networkConfig.map { "+" + $0 } ?? "-")\u{0}"
        for key in metaData.keys.sorted() { text += "meta\u{0}\(key)\u{0}\(metaData[key]!)\u{0}" }
        return "sha256:" + SHA256Hex.of(Array(text.utf8))
    }
}

public enum SpreadPolicy: String, Sendable, Hashable, CaseIterable {
    /// Spread the VMs across the selected hosts.
    case hosts
    /// Fill one host before the next.
    case pack
}

public struct Placement: Sendable, Hashable {
    /// The hosts eligible for this set; the empty selector selects all hosts.
    public var hostSelector: LabelSelector
    public var spread: SpreadPolicy
    /// At most this many VMs of the set on one host; nil for no limit.
    public var maxPerHost: Int?

    public init(hostSelector: LabelSelector = LabelSelector(), spread: SpreadPolicy = .hosts, maxPerHost: Int? = nil) {
        self.hostSelector = hostSelector
        self.spread = spread
        self.maxPerHost = maxPerHost
    }
}

public struct UpdateStrategy: Sendable, Hashable {
    /// VMs of the set that may be down at once during a rollout.
    public var maxUnavailable: Int

    public init(maxUnavailable: Int = 1) {
        self.maxUnavailable = maxUnavailable
    }
}

public enum RunStrategy: String, Sendable, Hashable, CaseIterable {
    case running = "Running"
    case stopped = "Stopped"
}

public struct VMSetSpec: Sendable, Hashable {
    public var replicas: Int
    /// The name of a declared Template.
    public var template: String
    public var clone: CloneMode
    public var resources: Resources
    /// The VM's NICs, in order; one user-mode NIC unless given.
    public var networks: [Network]
    public var cloudInit: CloudInit?
    /// How to tell a VM is up; nil takes the template's `readiness`.
    public var readiness: Readiness?
    /// Seconds a started VM may take to become ready before it is marked Failed.
    public var readinessTimeout: Int
    public var placement: Placement
    public var updateStrategy: UpdateStrategy
    public var runStrategy: RunStrategy
    public var start: StartMode

    public init(
        replicas: Int, template: String, clone: CloneMode = .linked, resources: Resources = Resources(),
        networks: [Network] = [Network()], cloudInit: CloudInit? = nil, readiness: Readiness? = nil,
        readinessTimeout: Int = VMSetSpec.defaultReadinessTimeout, placement: Placement = Placement(),
        updateStrategy: UpdateStrategy = UpdateStrategy(), runStrategy: RunStrategy = .running, start: StartMode = .boot
    ) {
        self.replicas = replicas
        self.template = template
        self.clone = clone
        self.resources = resources
        self.networks = networks
        self.cloudInit = cloudInit
        self.readiness = readiness
        self.readinessTimeout = readinessTimeout
        self.placement = placement
        self.updateStrategy = updateStrategy
        self.runStrategy = runStrategy
        self.start = start
    }

    public static let defaultReadinessTimeout = 300
}
