import DroveManifest

/// A golden snapshot's name on a host: the template copy it rests on, and a key for everything
/// else the saved guest depends on (see `GoldenImage.of`).
public struct GoldenName: Sendable, Hashable, Comparable {
    public var templateDigest: String
    public var key: String

    public init(templateDigest: String, key: String) {
        self.templateDigest = templateDigest
        self.key = key
    }

    /// The overlay of the template copy the golden guest ran on; clones' disks are overlays of it.
    public var disk: String { Naming.goldenVolume(self, ".qcow2") }
    /// The saved guest: libvirt's save image (its header, the domain XML, then QEMU's state).
    public var memory: String { Naming.goldenVolume(self, ".save") }
    public var seed: String { Naming.goldenVolume(self, ".seed.iso") }
    public var consoleLog: String { Naming.goldenVolume(self, ".console.log") }
    /// Written only once the save finished: without it the pair may be partial, and is never used.
    public var readyMarker: String { Naming.goldenVolume(self, Naming.readySuffix) }
    /// Written when the guest never asked for an identity: its sets boot on this host.
    public var unsupportedMarker: String { Naming.goldenVolume(self, ".unsupported") }
    /// Every volume of the golden snapshot, markers last.
    public var volumes: [String] { [disk, memory, seed, consoleLog, readyMarker, unsupportedMarker] }
    /// The transient domain the golden guest boots in (a dotted name no VM can have).
    public var domain: String { "drove.golden.\(key)" }

    public static func < (lhs: GoldenName, rhs: GoldenName) -> Bool {
        (lhs.templateDigest, lhs.key) < (rhs.templateDigest, rhs.key)
    }
}

/// A golden snapshot as it should be made: one guest booted from the template with the
/// resources, device model and domain type of the VMs that will resume from it.
public struct GoldenImage: Sendable, Equatable {
    public var name: GoldenName
    public var template: TemplateImage
    public var domainType: String
    public var resources: Resources
    /// Its NICs, shaped as the clones' (their MACs are the golden's own, replaced in each clone).
    public var nics: [NIC]
    /// Whether the clones have a NoCloud seed CD-ROM (the device must be there when it is saved).
    public var seeded: Bool

    /// The golden snapshot VMs of `set` resume from on a host of this domain type and QEMU
    /// version. Anything that shapes the saved machine is in its key: a change is a new golden.
    public static func of(_ set: VMSet, template: TemplateImage, domainType: String, hypervisorVersion: UInt64) -> GoldenImage {
        let spec = set.spec
        let networks = spec.networks.map { Network(type: $0.type, source: $0.source, model: $0.model) }
        let canonical = ([
            "golden-v1",
            "template=\(template.digest)",
            "type=\(domainType)",
            "qemu=\(hypervisorVersion)",
            "vcpus=\(spec.resources.vcpus)",
            "memory=\(spec.resources.memory)",
            "cpu=\(spec.resources.cpuMode.rawValue)",
            "seed=\(spec.cloudInit != nil)",
        ] + networks.map { "net=\($0.type.rawValue),\($0.source ?? ""),\($0.model)" }).joined(separator: "|")
        let key = SpecHash.fnv1a64(canonical)
        let nics = networks.enumerated().map { index, network in
            NIC(network: network, mac: MACAddress.of(network, set: "drove-golden-\(key)", ordinal: 0, nic: index))
        }
        return GoldenImage(name: GoldenName(templateDigest: template.digest, key: key), template: template,
                           domainType: domainType, resources: spec.resources, nics: nics, seeded: spec.cloudInit != nil)
    }
}

/// A golden snapshot found in a host's pool.
public struct GoldenCopy: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Saved and marked ready: clones may resume from it.
        case complete
        /// Not (yet) marked: being made, or cut off. Never used.
        case partial
        /// Its guest never asked for an identity: sets boot on this host instead.
        case unsupported
    }

    public var name: GoldenName
    public var state: State

    public init(name: GoldenName, state: State) {
        self.name = name
        self.state = state
    }
}

/// Golden snapshots no stored set wants and no VM rests on, among `ours` (the keys of goldens
/// this Drove made or saw its VMs rest on: a host may hold another installation's): their
/// deletions, one per host and golden. Pure. A set wants, on every host its selector matches,
/// the golden its VMs would resume from there now; a golden of older template content,
/// resources or QEMU is wanted by none once its VMs are gone. Decides nothing while a template
/// cannot be read (which goldens its sets want is then unknown).
public func goldenGarbage(_ desired: DesiredState, _ observed: ObservedFleet, ours: Set<String>) -> [Action] {
    let sets = desired.manifest.vmSets.filter { $0.spec.start == .snapshot && $0.spec.runStrategy == .running }
    guard sets.allSatisfy({ desired.images[$0.spec.template] != nil }) else { return [] }
    var actions: [Action] = []
    for host in desired.manifest.hosts.sorted(by: { $0.metadata.name < $1.metadata.name }) {
        guard let found = observed.hosts[host.metadata.name], found.isReachable, !found.goldens.isEmpty else { continue }
        let wanted = Set(sets.filter { $0.spec.placement.hostSelector.matches(host.metadata.labels) }.map { set in
            GoldenImage.of(set, template: desired.images[set.spec.template]!,
                           domainType: Planner.domainType(host, observed: found), hypervisorVersion: found.hypervisorVersion).name.key
        })
        let used = Set(found.vms.values.compactMap(\.golden))
        for golden in found.goldens.values.sorted(by: { $0.name < $1.name })
        where ours.contains(golden.name.key) && !wanted.contains(golden.name.key) && !used.contains(golden.name.key) {
            actions.append(Action(id: actions.count + 1, host: host.metadata.name, kind: .deleteGolden(golden.name)))
        }
    }
    return actions
}
