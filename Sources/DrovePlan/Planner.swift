import DroveManifest

/// Compares desired with observed state and says what one pass must do. Pure: no I/O, and the
/// same inputs always give the same plan.
public func plan(_ desired: DesiredState, _ observed: ObservedFleet) -> Plan {
    var planner = Planner(desired: desired, observed: observed)
    planner.run()
    return Plan(actions: planner.actions, unschedulable: planner.unschedulable, notes: planner.notes,
                bootFallbacks: planner.bootFallbacks)
}

/// A VM found on a host.
struct Placed {
    var host: String
    var vm: ObservedVM
}

struct Planner {
    let desired: DesiredState
    let hosts: [Host]
    let hostsByName: [String: Host]
    let observedHosts: [String: ObservedHost]
    let templates: [String: Template]

    var actions: [Action] = []
    var unschedulable: [Unschedulable] = []
    var notes: [String] = []
    var bootFallbacks: [BootFallback] = []
    var loads: Loads
    /// Where each set may be placed, worked out on its first placement.
    var candidatesBySet: [String: PlacementCandidates] = [:]
    /// Copy actions by host and digest, so each template goes to each host once.
    var copies: [String: [String: Int]] = [:]
    /// Disks this pass creates, by host.
    var disksCreated: [String: Set<String>] = [:]
    /// Removal actions by host, which template pruning waits for.
    var removals: [String: [Int]] = [:]
    /// How many VMs use each template digest after this pass, by host.
    var digestUsers: [String: [String: Int]] = [:]
    /// Digests pre-copy wants on each host.
    var wanted: [String: Set<String>] = [:]
    /// Golden snapshot actions by host and key, so each is made once; and the keys wanted.
    var goldens: [String: [String: Int]] = [:]
    var wantedGoldens: [String: Set<String>] = [:]
    /// How many VMs rest on each golden snapshot after this pass, by host (when pruning).
    var goldenUsers: [String: [String: Int]] = [:]

    init(desired: DesiredState, observed: ObservedFleet) {
        self.desired = desired
        hosts = desired.manifest.hosts.sorted { $0.metadata.name < $1.metadata.name }
        hostsByName = Dictionary(hosts.map { ($0.metadata.name, $0) }, uniquingKeysWith: { first, _ in first })
        observedHosts = observed.hosts
        templates = Dictionary(desired.manifest.templates.map { ($0.metadata.name, $0) }, uniquingKeysWith: { first, _ in first })
        loads = Loads(counting: Set(desired.manifest.vmSets.map(\.metadata.name)))
    }

    /// The observed host if it answered; nil if it is unreachable or was not observed.
    func reachable(_ host: String) -> ObservedHost? {
        guard let observed = observedHosts[host], observed.isReachable else { return nil }
        return observed
    }

    mutating func add(_ host: String, _ kind: Action.Kind, after dependencies: [Int] = []) -> Int {
        let id = actions.count + 1
        actions.append(Action(id: id, host: host, kind: kind, dependsOn: dependencies.sorted()))
        return id
    }

    mutating func run() {
        let sets = desired.manifest.vmSets
            .filter { !desired.removing.contains($0.metadata.name) }
            .sorted { $0.metadata.name < $1.metadata.name }
        let managed = Set(sets.map(\.metadata.name)).union(desired.removing)
        // A controller pass plans one set against the whole fleet: only the VMs of the sets
        // planned are gathered, and only what pruning needs is counted.
        let countUsers = desired.pruneTemplates != .none
        var bySet: [String: [Placed]] = [:]
        var unmanaged: Set<String> = []
        for host in hosts {
            let name = host.metadata.name
            guard let observed = reachable(name) else {
                let reason = observedHosts[name]?.unreachable ?? "not observed"
                notes.append("host \(name) is unreachable (\(reason)); its VMs are left as they are, not recreated elsewhere")
                continue
            }
            loads.add(host: host, observed: observed)
            for vm in observed.vms.values {
                if managed.contains(vm.set) {
                    bySet[vm.set, default: []].append(Placed(host: name, vm: vm))
                } else {
                    unmanaged.insert(vm.set)
                }
                if countUsers {
                    digestUsers[name, default: [:]][vm.templateDigest, default: 0] += 1
                    if let golden = vm.golden { goldenUsers[name, default: [:]][golden, default: 0] += 1 }
                }
            }
        }
        // Hosts were visited in name order; within a host, VMs by name.
        for set in bySet.keys { bySet[set]!.sort { ($0.host, $0.vm.name) < ($1.host, $1.vm.name) } }

        precopy(for: sets)
        for set in desired.removing.sorted() {
            for placed in bySet[set] ?? [] { remove(placed) }
        }
        for set in sets {
            reconcile(set, found: bySet[set.metadata.name] ?? [])
        }
        for set in unmanaged.sorted() {
            notes.append("VMs of set \(set) are not in these manifests and are left alone")
        }
        deleteStrayDisks(of: managed)
        pruneTemplates()
    }

    // MARK: Sets

    mutating func reconcile(_ set: VMSet, found: [Placed]) {
        let name = set.metadata.name
        let spec = set.spec
        guard let image = desired.images[spec.template] else {
            for ordinal in 0..<spec.replicas where !found.contains(where: { $0.vm.ordinal == ordinal }) {
                unschedulable.append(Unschedulable(vm: Naming.vmName(set: name, ordinal: ordinal), cause: .templateUnreadable,
                                                   reason: "template \(spec.template) could not be read"))
            }
            return
        }

        // One VM per ordinal: a duplicate (the same VM on two hosts) is removed, keeping a
        // running one on the first host by name.
        var byOrdinal: [Int: Placed] = [:]
        for placed in found.sorted(by: { ($0.vm.ordinal, $0.vm.state == .running ? 0 : 1, $0.host) < ($1.vm.ordinal, $1.vm.state == .running ? 0 : 1, $1.host) }) {
            if byOrdinal[placed.vm.ordinal] == nil, placed.vm.ordinal < spec.replicas {
                byOrdinal[placed.vm.ordinal] = placed
            } else {
                remove(placed) // scaled away, or a duplicate
            }
        }

        // Available means ready: a replacement that runs but whose guest has not yet said it is
        // up still counts against maxUnavailable, so a rollout waits for it.
        let readiness = spec.readiness ?? templates[spec.template]?.spec.readiness ?? .running
        func isAvailable(_ vm: ObservedVM) -> Bool {
            spec.runStrategy == .stopped || SetTally.isReady(vm, readiness: readiness)
        }

        var missing: [Int] = []
        var outdated: [Placed] = []
        for ordinal in 0..<spec.replicas {
            guard let placed = byOrdinal[ordinal] else {
                missing.append(ordinal)
                continue
            }
            let host = hostsByName[placed.host]!
            let current = SpecHash.of(spec, templateDigest: image.digest, domainType: domainType(host))
            if placed.vm.specHash != current || !spec.placement.hostSelector.matches(host.metadata.labels) || !placed.vm.missingVolumes.isEmpty {
                outdated.append(placed)
            } else if spec.runStrategy == .running, placed.vm.state != .running {
                _ = add(placed.host, .startVM(placed.vm.name))
            } else if spec.runStrategy == .stopped, placed.vm.state == .running {
                _ = add(placed.host, .stopVM(placed.vm.name))
            }
        }

        // Rolling replacement: never more than maxUnavailable VMs of the set down at once.
        // VMs that are down already are replaced freely; replacing them costs nothing. A VM that
        // may be on a host that does not answer is unknown, not down (its guest may well run
        // there): it does not spend the budget, or every rollout would stall until the host is
        // back. If that host did die, up to maxUnavailable more are down meanwhile.
        let unreachable = hosts.filter { spec.placement.hostSelector.matches($0.metadata.labels) && reachable($0.metadata.name) == nil }
        func darkHost(mayHold ordinal: Int) -> Host? {
            let vm = Naming.vmName(set: name, ordinal: ordinal)
            return unreachable.first { observedHosts[$0.metadata.name]?.mayHold?.contains(vm) ?? true }
        }
        let unavailable = missing.filter { darkHost(mayHold: $0) == nil }.count + byOrdinal.values.filter { !isAvailable($0.vm) }.count
        var budget = spec.updateStrategy.maxUnavailable - unavailable
        var replaced: [Int: [Int]] = [:]
        for placed in outdated {
            if isAvailable(placed.vm) {
                guard budget > 0 else { continue }
                budget -= 1
            }
            replaced[placed.vm.ordinal] = remove(placed)
            missing.append(placed.vm.ordinal)
        }

        // A VM not seen may be running on a host that does not answer. Without fencing there is
        // no knowing, so it is not created elsewhere: that could make two of it. A VM the dark
        // host did not hold when it was last seen (one being replaced elsewhere) is made.
        for ordinal in missing.sorted() {
            if replaced[ordinal] == nil, let dark = darkHost(mayHold: ordinal) {
                unschedulable.append(Unschedulable(
                    vm: Naming.vmName(set: name, ordinal: ordinal), cause: .mayBeOnUnreachableHost,
                    reason: "unknown: may be on unreachable host \(dark.metadata.name); not created elsewhere"))
                continue
            }
            create(set, ordinal: ordinal, image: image, after: replaced[ordinal] ?? [])
        }
    }

    /// Removes a VM and then its disk; returns the removal's actions.
    @discardableResult
    mutating func remove(_ placed: Placed) -> [Int] {
        let removeVM = add(placed.host, .removeVM(placed.vm.name))
        let deleteDisk = add(placed.host, .deleteVolume(placed.vm.volume), after: [removeVM])
        loads.release(placed.vm, from: placed.host)
        if desired.pruneTemplates != .none {
            digestUsers[placed.host, default: [:]][placed.vm.templateDigest, default: 0] -= 1
            if let golden = placed.vm.golden { goldenUsers[placed.host, default: [:]][golden, default: 0] -= 1 }
        }
        removals[placed.host, default: []].append(deleteDisk)
        return [removeVM, deleteDisk]
    }

    mutating func create(_ set: VMSet, ordinal: Int, image: TemplateImage, after dependencies: [Int]) {
        let vmName = Naming.vmName(set: set.metadata.name, ordinal: ordinal)
        let placement = place(vmName, set: set, digest: image.digest)
        guard case let .success(hostName) = placement else {
            if case let .failure(reason) = placement { unschedulable.append(Unschedulable(vm: vmName, cause: reason.cause, reason: reason.text)) }
            return
        }
        let host = hostsByName[hostName]!
        var golden: GoldenImage?
        var madeGolden: Int?
        if let wanted = goldenImage(for: set, image: image, on: host) {
            if reachable(hostName)?.goldens[wanted.name.key]?.state == .unsupported {
                bootFallbacks.append(BootFallback(vm: vmName, host: hostName, reason:
                    "template \(image.name) cannot take an identity after resuming (its golden guest on \(hostName) never asked for one)"))
            } else {
                golden = wanted
                madeGolden = ensureGolden(wanted, on: hostName)
            }
        }
        let instance = VMInstance(
            name: vmName, set: set.metadata.name, ordinal: ordinal, domainType: domainType(host),
            resources: set.spec.resources, nics: NIC.of(set, ordinal: ordinal), seed: Seed.of(set, ordinal: ordinal),
            clone: set.spec.clone, template: image,
            specHash: SpecHash.of(set.spec, templateDigest: image.digest, domainType: domainType(host)), golden: golden)
        loads.take(on: hostName, set: set.metadata.name, vcpus: instance.resources.vcpus, memory: instance.resources.memory)
        if desired.pruneTemplates != .none {
            digestUsers[hostName, default: [:]][image.digest, default: 0] += 1
            if let golden { goldenUsers[hostName, default: [:]][golden.name.key, default: 0] += 1 }
        }
        disksCreated[hostName, default: []].insert(instance.volume)

        let copy = ensureTemplate(image, on: hostName)
        let disk = add(hostName, .createDisk(instance), after: dependencies + [copy, madeGolden].compactMap { $0 })
        let define = add(hostName, .defineVM(instance), after: [disk])
        if set.spec.runStrategy == .running {
            _ = add(hostName, golden.map { .restoreVM(vmName, golden: $0.name.key) } ?? .startVM(vmName), after: [define])
        }
    }

    /// The golden snapshot new VMs of `set` resume from on `host`: nil unless the set starts
    /// from a snapshot and runs.
    func goldenImage(for set: VMSet, image: TemplateImage, on host: Host) -> GoldenImage? {
        guard set.spec.start == .snapshot, set.spec.runStrategy == .running, let observed = reachable(host.metadata.name) else { return nil }
        return GoldenImage.of(set, template: image, domainType: domainType(host), hypervisorVersion: observed.hypervisorVersion)
    }

    /// The action that makes `golden` on `host` (after its template copy), or nil when a
    /// complete one is there.
    mutating func ensureGolden(_ golden: GoldenImage, on host: String) -> Int? {
        wantedGoldens[host, default: []].insert(golden.name.key)
        if reachable(host)?.goldens[golden.name.key]?.state == .complete { return nil }
        if let planned = goldens[host]?[golden.name.key] { return planned }
        let copy = ensureTemplate(golden.template, on: host)
        let id = add(host, .makeGolden(golden), after: copy.map { [$0] } ?? [])
        goldens[host, default: [:]][golden.name.key] = id
        return id
    }

    func domainType(_ host: Host) -> String {
        Self.domainType(host, observed: reachable(host.metadata.name))
    }

    /// The domain type VMs get on `host`: its setting, or for `auto` what it offers.
    static func domainType(_ host: Host, observed: ObservedHost?) -> String {
        switch host.spec.domainType {
        case .kvm: "kvm"
        case .qemu: "qemu"
        case .auto: observed?.offersKVM == true ? "kvm" : "qemu"
        }
    }

    // MARK: Templates

    /// The copy action that puts `image` on `host`, or nil when a complete copy is there.
    mutating func ensureTemplate(_ image: TemplateImage, on host: String) -> Int? {
        if reachable(host)?.templates[image.digest]?.complete == true { return nil }
        if let planned = copies[host]?[image.digest] { return planned }
        let id = add(host, .copyTemplate(image))
        copies[host, default: [:]][image.digest] = id
        loads.receive(image.digest, on: host)
        return id
    }

    /// Copies templates ahead of need: to every reachable host a set using them may be placed
    /// on (eager policy), and to the hosts a template's own pre-copy selector names.
    mutating func precopy(for sets: [VMSet]) {
        for templateName in templates.keys.sorted() {
            guard let template = templates[templateName], let image = desired.images[templateName] else { continue }
            let users = sets.filter { $0.spec.template == templateName && $0.spec.replicas > 0 }
            var targets: [Host] = []
            if template.spec.precopy.policy == .eager {
                targets += hosts.filter { host in users.contains { $0.spec.placement.hostSelector.matches(host.metadata.labels) } }
            }
            if let selector = template.spec.precopy.hostSelector {
                targets += hosts.filter { selector.matches($0.metadata.labels) }
            }
            for host in targets where reachable(host.metadata.name) != nil {
                wanted[host.metadata.name, default: []].insert(image.digest)
                _ = ensureTemplate(image, on: host.metadata.name)
            }
            // Pre-boot, pre-copy's sibling: the golden snapshots of sets that resume from one,
            // on the hosts they may be placed on.
            guard template.spec.precopy.policy == .eager else { continue }
            for set in users where set.spec.start == .snapshot {
                for host in hosts where set.spec.placement.hostSelector.matches(host.metadata.labels) {
                    guard let golden = goldenImage(for: set, image: image, on: host),
                          reachable(host.metadata.name)?.goldens[golden.name.key]?.state != .unsupported else { continue }
                    _ = ensureGolden(golden, on: host.metadata.name)
                }
            }
        }
    }

    /// Deletes template copies nothing uses any more, after the removals that freed them.
    mutating func pruneTemplates() {
        guard desired.pruneTemplates != .none else { return }
        let declared = Set(desired.images.values.map(\.digest))
        for host in hosts {
            let name = host.metadata.name
            guard let observed = reachable(name) else { continue }
            // Golden snapshots first: each rests on a template copy, and clones' disks on it.
            var goldensKept: Set<String> = [] // template digests
            var goldensDeleted: [String: [Int]] = [:] // by template digest
            for golden in observed.goldens.values.sorted(by: { $0.name < $1.name }) {
                let digest = golden.name.templateDigest
                let unused = (goldenUsers[name]?[golden.name.key] ?? 0) == 0 && !(wantedGoldens[name]?.contains(golden.name.key) ?? false)
                    && goldens[name]?[golden.name.key] == nil
                guard unused, desired.pruneTemplates == .unused || declared.contains(digest) else {
                    goldensKept.insert(digest)
                    continue
                }
                goldensDeleted[digest, default: []].append(add(name, .deleteGolden(golden.name), after: removals[name] ?? []))
            }
            for digest in observed.templates.keys.sorted() where !goldensKept.contains(digest) {
                let users = digestUsers[name]?[digest] ?? 0
                guard users == 0, !(wanted[name]?.contains(digest) ?? false), copies[name]?[digest] == nil else { continue }
                if desired.pruneTemplates == .declared, !declared.contains(digest) { continue }
                let copy = observed.templates[digest]!
                _ = add(name, .deleteTemplateCopy(digest: digest, volume: copy.volume),
                        after: (removals[name] ?? []) + (goldensDeleted[digest] ?? []))
            }
        }
    }

    // MARK: Stray disks

    /// Deletes Drove disks that no domain uses (left by a create that was cut off, or a removal
    /// that was), for VMs of the sets these manifests manage.
    mutating func deleteStrayDisks(of managed: Set<String>) {
        for host in hosts {
            let name = host.metadata.name
            guard let observed = reachable(name) else { continue }
            for volume in observed.strayVolumes.sorted() where !(disksCreated[name]?.contains(volume) ?? false) {
                guard let vm = Naming.vm(ofDisk: volume), managed.contains(where: { Naming.vm(vm, belongsTo: $0) }) else { continue }
                _ = add(name, .deleteVolume(volume))
            }
        }
    }
}
