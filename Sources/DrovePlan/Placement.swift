import DroveManifest

/// What a host has committed to Drove's VMs, kept up to date as the planner places and removes.
struct HostLoad {
    let name: String
    let labels: [String: String]
    let vcpuCapacity: Double
    let memoryCapacity: Double
    var vcpus = 0
    var memory: UInt64 = 0
    var perSet: [String: Int] = [:]
    var templates: Set<String>
    var receiving: Set<String> = []
    let foreignDomains: Set<String>

    init(host: Host, observed: ObservedHost) {
        name = host.metadata.name
        labels = host.metadata.labels
        vcpuCapacity = Double(observed.cpus) * host.spec.overcommit.cpu
        memoryCapacity = Double(observed.memoryBytes) * host.spec.overcommit.memory
        templates = Set(observed.templates.values.filter(\.complete).map(\.digest))
        foreignDomains = observed.foreignDomains
        for vm in observed.vms.values {
            take(set: vm.set, vcpus: vm.vcpus, memory: vm.memoryBytes)
        }
    }

    mutating func take(set: String, vcpus: Int, memory: UInt64) {
        self.vcpus += vcpus
        self.memory += memory
        perSet[set, default: 0] += 1
    }

    mutating func release(_ vm: ObservedVM) {
        vcpus -= vm.vcpus
        memory -= min(memory, vm.memoryBytes)
        perSet[vm.set, default: 0] -= 1
    }

    func holds(_ digest: String) -> Bool { templates.contains(digest) || receiving.contains(digest) }

    /// Why a VM of `set` with these resources does not fit here, or nil if it does.
    func misfit(vm: String, set: String, resources: Resources, maxPerHost: Int?) -> String? {
        if foreignDomains.contains(vm) { return "\(name): a domain named \(vm) exists that Drove does not own" }
        if let maxPerHost, perSet[set, default: 0] >= maxPerHost { return "\(name): maxPerHost \(maxPerHost) reached" }
        if Double(memory + resources.memory) > memoryCapacity {
            return "\(name): memory \(mebibytes(memory)) of \(mebibytes(UInt64(memoryCapacity))) committed, needs \(mebibytes(resources.memory)) more"
        }
        if Double(vcpus + resources.vcpus) > vcpuCapacity {
            return "\(name): \(vcpus) of \(Int(vcpuCapacity)) vCPUs committed, needs \(resources.vcpus) more"
        }
        return nil
    }
}

private func mebibytes(_ bytes: UInt64) -> String { "\(bytes >> 20)Mi" }

struct PlacementFailure: Error {
    let text: String
}

extension Planner {
    /// Chooses a host for one new VM of `set`: among reachable hosts its selector matches and
    /// that have room, spread (fewest of the set first) or pack (most of the set first), then
    /// preferring hosts that hold or are receiving the template, then the least committed
    /// memory, then the name.
    func place(_ vm: String, set: VMSet, digest: String) -> Result<String, PlacementFailure> {
        let placement = set.spec.placement
        let matching = hosts.filter { placement.hostSelector.matches($0.metadata.labels) }
        let candidates = matching.compactMap { loads[$0.metadata.name] }
        guard !candidates.isEmpty else {
            let selector = placement.hostSelector.matchLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let what = selector.isEmpty ? "no host is declared" : "no host matches hostSelector \(selector.joined(separator: ","))"
            return .failure(PlacementFailure(text: matching.isEmpty ? what : "all \(matching.count) matching hosts are unreachable"))
        }
        var misfits: [String] = []
        var fitting: [HostLoad] = []
        for load in candidates {
            if let why = load.misfit(vm: vm, set: set.metadata.name, resources: set.spec.resources, maxPerHost: placement.maxPerHost) {
                misfits.append(why)
            } else {
                fitting.append(load)
            }
        }
        let setName = set.metadata.name
        let best = fitting.min { a, b in
            let countA = a.perSet[setName, default: 0], countB = b.perSet[setName, default: 0]
            if countA != countB { return placement.spread == .hosts ? countA < countB : countA > countB }
            let holdsA = a.holds(digest), holdsB = b.holds(digest)
            if holdsA != holdsB { return holdsA }
            let usedA = Double(a.memory) / max(a.memoryCapacity, 1), usedB = Double(b.memory) / max(b.memoryCapacity, 1)
            if usedA != usedB { return usedA < usedB }
            return a.name < b.name
        }
        if let best { return .success(best.name) }
        let shown = misfits.prefix(3).joined(separator: "; ") + (misfits.count > 3 ? "; and \(misfits.count - 3) more" : "")
        return .failure(PlacementFailure(text: "no matching host has room: \(shown)"))
    }
}
