import DroveManifest

/// What one pass will do: actions with their dependencies, and what could not be placed.
public struct Plan: Sendable, Equatable {
    public var actions: [Action]
    /// Replicas that fit on no host, each with the reason.
    public var unschedulable: [Unschedulable]
    /// Things the planner noticed and chose to leave alone (an unreachable host, a foreign
    /// domain in the way), for the operator to read.
    public var notes: [String]
    /// VMs of `start: snapshot` sets this pass boots instead, each with the reason.
    public var bootFallbacks: [BootFallback]

    public init(actions: [Action] = [], unschedulable: [Unschedulable] = [], notes: [String] = [],
                bootFallbacks: [BootFallback] = []) {
        self.actions = actions
        self.unschedulable = unschedulable
        self.notes = notes
        self.bootFallbacks = bootFallbacks
    }

    public var isEmpty: Bool { actions.isEmpty }
}

/// A VM of a `start: snapshot` set that boots instead of resuming, and why.
public struct BootFallback: Sendable, Equatable {
    public var vm: String
    public var host: String
    public var reason: String

    public init(vm: String, host: String, reason: String) {
        self.vm = vm
        self.host = host
        self.reason = reason
    }
}

public struct Unschedulable: Sendable, Equatable {
    /// Why a replica was not placed, for code to decide on (never parsed out of `reason`).
    public enum Cause: String, Sendable, Equatable {
        /// Its template's file could not be read.
        case templateUnreadable
        /// It may still run on a host that does not answer; without fencing it is not made
        /// elsewhere.
        case mayBeOnUnreachableHost
        /// No declared host matches its set's selector.
        case noMatchingHost
        /// Every matching host is unreachable.
        case matchingHostsUnreachable
        /// No matching host has room (capacity, overcommit, maxPerHost).
        case noRoom
        /// No matching host offers a network or bridge its NICs attach to.
        case networkNotOffered
    }

    public var vm: String
    public var cause: Cause
    /// For people: the cause in detail, naming hosts.
    public var reason: String

    public init(vm: String, cause: Cause, reason: String) {
        self.vm = vm
        self.cause = cause
        self.reason = reason
    }
}

/// One step on one host. `dependsOn` names actions that must succeed first.
public struct Action: Sendable, Equatable, Identifiable {
    public var id: Int
    public var host: String
    public var kind: Kind
    public var dependsOn: [Int]

    public init(id: Int, host: String, kind: Kind, dependsOn: [Int] = []) {
        self.id = id
        self.host = host
        self.kind = kind
        self.dependsOn = dependsOn
    }

    public enum Kind: Sendable, Equatable {
        /// Upload a template into the host's pool, then mark the copy complete.
        case copyTemplate(TemplateImage)
        /// Make a VM's disk: a qcow2 overlay on the template copy, or a full copy of it.
        case createDisk(VMInstance)
        /// Define the VM's domain (with Drove's metadata in its XML).
        case defineVM(VMInstance)
        case startVM(String)
        case stopVM(String)
        /// Destroy (if running) and undefine a Drove domain.
        case removeVM(String)
        /// Delete a Drove disk volume.
        case deleteVolume(String)
        /// Delete a template copy that nothing uses any more (only when asked to prune).
        case deleteTemplateCopy(digest: String, volume: String)
        /// Boot a guest from the template once, to where it waits for its identity, and save
        /// it: the host's golden snapshot, marked complete only once saved. A guest that never
        /// gets there is marked as unable to resume, and its sets boot.
        case makeGolden(GoldenImage)
        /// Start a freshly defined VM by restoring its host's golden snapshot under the VM's
        /// own identity, then handing the guest its identity; it boots instead if that fails.
        case restoreVM(String, golden: String)
        /// Delete a golden snapshot nothing uses any more.
        case deleteGolden(GoldenName)
    }

    /// Whether the action changes the host (all do; reads happen in observing).
    public var summary: String {
        switch kind {
        case let .copyTemplate(template): "copy template \(template.name)@\(template.digest.prefix(12)) to \(host)"
        case let .createDisk(vm): "create \(vm.clone.rawValue) disk \(vm.volume) for \(vm.name) on \(host)"
        case let .defineVM(vm): "define \(vm.name) on \(host)"
        case let .startVM(name): "start \(name) on \(host)"
        case let .stopVM(name): "stop \(name) on \(host)"
        case let .removeVM(name): "remove \(name) from \(host)"
        case let .deleteVolume(name): "delete volume \(name) on \(host)"
        case let .deleteTemplateCopy(digest, _): "delete template copy \(digest.prefix(12)) on \(host)"
        case let .makeGolden(golden): "make golden snapshot \(golden.name.key) of \(golden.template.name)@\(golden.template.digest.prefix(12)) on \(host)"
        case let .restoreVM(name, golden): "restore \(name) from golden snapshot \(golden) on \(host)"
        case let .deleteGolden(golden): "delete golden snapshot \(golden.key) on \(host)"
        }
    }

    /// The VM this action starts, by booting or by restoring: such actions pass the boot gate.
    public var startedVM: String? {
        switch kind {
        case let .startVM(vm), let .restoreVM(vm, _): vm
        default: nil
        }
    }

    /// A short verb for tables and metrics.
    public var verb: String {
        switch kind {
        case .copyTemplate: "copy-template"
        case .createDisk: "create-disk"
        case .defineVM: "define"
        case .startVM: "start"
        case .stopVM: "stop"
        case .removeVM: "remove"
        case .deleteVolume: "delete-volume"
        case .deleteTemplateCopy: "delete-template"
        case .makeGolden: "make-golden"
        case .restoreVM: "restore"
        case .deleteGolden: "delete-golden"
        }
    }
}

/// A template file as the executor needs it: its content digest, format and sizes.
public struct TemplateImage: Sendable, Equatable {
    public var name: String
    public var digest: String
    /// `qcow2` or `raw`.
    public var format: String
    /// The file on the machine running Drove.
    public var path: String
    public var fileBytes: UInt64
    /// The guest-visible size of the image.
    public var virtualBytes: UInt64

    public init(name: String, digest: String, format: String, path: String, fileBytes: UInt64, virtualBytes: UInt64) {
        self.name = name
        self.digest = digest
        self.format = format
        self.path = path
        self.fileBytes = fileBytes
        self.virtualBytes = virtualBytes
    }

    public var volume: String { Naming.templateVolume(digest: digest, format: format) }
}

/// One VM as it should exist on its host.
public struct VMInstance: Sendable, Equatable {
    public var name: String
    public var set: String
    public var ordinal: Int
    /// `kvm` or `qemu`, resolved from the host's `domainType` and what it offers.
    public var domainType: String
    public var resources: Resources
    /// The NICs in order, each with its MAC resolved.
    public var nics: [NIC]
    /// The cloud-init seed's content, if the set asks for one.
    public var seed: Seed?
    public var clone: CloneMode
    public var template: TemplateImage
    public var specHash: String
    /// The golden snapshot it resumes from (`start: snapshot`): its disk is an overlay of the
    /// golden disk. nil: it boots from an overlay (or copy) of the template.
    public var golden: GoldenImage?
    public var volume: String { Naming.diskVolume(vm: name) }

    /// What its disk is made from, for people: `linked clone of tiny@3f2a…`, `full copy of …`,
    /// or `overlay of golden snapshot K of tiny@3f2a…`.
    public var diskOrigin: String {
        let template = "\(template.name)@\(template.digest.prefix(12))"
        if let golden { return "overlay of golden snapshot \(golden.name.key) of \(template)" }
        return clone == .linked ? "linked clone of \(template)" : "full copy of \(template)"
    }

    public init(name: String, set: String, ordinal: Int, domainType: String, resources: Resources, nics: [NIC] = [],
                seed: Seed? = nil, clone: CloneMode, template: TemplateImage, specHash: String, golden: GoldenImage? = nil) {
        self.name = name
        self.set = set
        self.ordinal = ordinal
        self.domainType = domainType
        self.resources = resources
        self.nics = nics
        self.seed = seed
        self.clone = clone
        self.template = template
        self.specHash = specHash
        self.golden = golden
    }
}

/// One NIC of one VM.
public struct NIC: Sendable, Equatable {
    public var network: Network
    public var mac: String

    public init(network: Network, mac: String) {
        self.network = network
        self.mac = mac
    }

    /// The set's NICs for one of its VMs.
    public static func of(_ set: VMSet, ordinal: Int) -> [NIC] {
        set.spec.networks.enumerated().map { index, network in
            NIC(network: network, mac: MACAddress.of(network, set: set.metadata.name, ordinal: ordinal, nic: index))
        }
    }
}

/// The files of one VM's NoCloud seed.
public struct Seed: Sendable, Equatable {
    public var metaData: String
    public var userData: String
    public var networkConfig: String?

    public init(metaData: String, userData: String, networkConfig: String?) {
        self.metaData = metaData
        self.userData = userData
        self.networkConfig = networkConfig
    }

    /// The seed of `<set>-<ordinal>`. meta-data is one `key: "value"` line per key (YAML, each
    /// value a double-quoted string escaped as JSON escapes it, so no value can add a key), with
    /// `instance-id` changing whenever the seed's content does, so cloud-init runs again on a VM
    /// remade from a changed spec.
    public static func of(_ set: VMSet, ordinal: Int) -> Seed? {
        guard let cloudInit = set.spec.cloudInit else { return nil }
        let name = Naming.vmName(set: set.metadata.name, ordinal: ordinal)
        var fields = cloudInit.metaData
        fields["instance-id"] = "\(name)-\(cloudInit.digest.dropFirst("sha256:".count).prefix(12))"
        fields["local-hostname"] = name
        let metaData = fields.keys.sorted().map { "\($0): \(JSONValue.escape(fields[$0]!))\n" }.joined()
        return Seed(metaData: metaData, userData: cloudInit.userData, networkConfig: cloudInit.networkConfig)
    }
}
