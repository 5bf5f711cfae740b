import DroveManifest
@testable import DrovePlan

/// Small builders for planner tests: a fleet of hosts, a template, sets, and what hosts hold.
struct Fleet {
    var manifest = Manifest()
    var images: [String: TemplateImage] = [:]
    var observed: [String: ObservedHost] = [:]

    static let digest = "d1g3st"

    init(hosts: [(String, [String: String])] = [("node-1", [:]), ("node-2", [:]), ("node-3", [:])],
         cpus: Int = 8, memory: UInt64 = 16 << 30) {
        for (name, labels) in hosts {
            manifest.hosts.append(Host(metadata: ObjectMeta(name: name, labels: labels),
                                       spec: HostSpec(uri: "test:///\(name)", domainType: .qemu)))
            observed[name] = ObservedHost(name: name, cpus: cpus, memoryBytes: memory)
        }
        addTemplate("tiny", digest: Self.digest)
    }

    mutating func addTemplate(_ name: String, digest: String, precopy: Precopy = Precopy(), readiness: Readiness = .running) {
        manifest.templates.removeAll { $0.metadata.name == name }
        manifest.templates.append(Template(metadata: ObjectMeta(name: name), spec: TemplateSpec(
            source: DroveManifest.TemplateSource(path: "\(name).qcow2", resolvedPath: "/images/\(name).qcow2"),
            precopy: precopy, readiness: readiness)))
        images[name] = TemplateImage(name: name, digest: digest, format: "qcow2", path: "/images/\(name).qcow2",
                                     fileBytes: 1 << 20, virtualBytes: 1 << 30)
    }

    mutating func addSet(_ name: String, replicas: Int, template: String = "tiny", memory: UInt64 = 64 << 20,
                         placement: Placement = Placement(), maxUnavailable: Int = 1, run: RunStrategy = .running,
                         start: StartMode = .boot) {
        manifest.vmSets.append(VMSet(metadata: ObjectMeta(name: name), spec: VMSetSpec(
            replicas: replicas, template: template, resources: Resources(vcpus: 1, memory: memory),
            placement: placement, updateStrategy: UpdateStrategy(maxUnavailable: maxUnavailable), runStrategy: run,
            start: start)))
    }

    func set(_ name: String) -> VMSet { manifest.vmSet(named: name)! }

    /// Marks the template as fully copied to these hosts.
    mutating func holdTemplate(on hosts: [String], digest: String = Fleet.digest) {
        for host in hosts {
            observed[host]!.templates[digest] = TemplateCopy(digest: digest, volume: Naming.templateVolume(digest: digest, format: "qcow2"), complete: true)
        }
    }

    /// Puts a VM of `set` on `host` as the current spec would make it.
    mutating func run(_ set: String, ordinal: Int, on host: String, state: ObservedVM.State = .running, specHash: String? = nil,
                      ready: Bool = true) {
        let spec = self.set(set).spec
        let name = Naming.vmName(set: set, ordinal: ordinal)
        let hash = specHash ?? SpecHash.of(spec, templateDigest: images[spec.template]!.digest, domainType: "qemu")
        observed[host]!.vms[name] = ObservedVM(
            name: name, set: set, ordinal: ordinal, specHash: hash, templateDigest: images[spec.template]!.digest,
            volume: Naming.diskVolume(vm: name), vcpus: spec.resources.vcpus, memoryBytes: spec.resources.memory, state: state,
            agentConnected: ready && state == .running)
    }

    func plan(removing: Set<String> = [], prune: TemplatePruning = .none) -> Plan {
        DrovePlan.plan(DesiredState(manifest: manifest, images: images, removing: removing, pruneTemplates: prune),
                       ObservedFleet(hosts: Array(observed.values)))
    }
}

extension Plan {
    func actions(_ verb: String) -> [Action] { actions.filter { $0.verb == verb } }
    func action(_ id: Int) -> Action { actions.first { $0.id == id }! }

    /// VM name → host it is created on.
    var createdOn: [String: String] {
        Dictionary(uniqueKeysWithValues: actions.compactMap { action in
            if case let .createDisk(vm) = action.kind { return (vm.name, action.host) }
            return nil
        })
    }

    var removed: [String] {
        actions.compactMap { action in
            if case let .removeVM(name) = action.kind { return name }
            return nil
        }
    }
}
