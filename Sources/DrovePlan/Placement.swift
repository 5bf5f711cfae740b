import DroveManifest

/// What one host has committed to Drove's VMs.
struct HostLoad {
    let name: String
    let labels: [String: String]
    let vcpuCapacity: Double
    let memoryCapacity: Double
    var vcpus = 0
    var memory: UInt64 = 0
    let foreignDomains: Set<String>

    init(host: Host, observed: ObservedHost) {
        name = host.metadata.name
        labels = host.metadata.labels
        vcpuCapacity = Double(observed.cpus) * host.spec.overcommit.cpu
        memoryCapacity = Double(observed.memoryBytes) * host.spec.overcommit.memory
        foreignDomains = observed.foreignDomains
    }

    /// Whether a VM with these resources fits, `count` of its set being here already.
    @inline(__always)
    func fits(vm: String, count: Int, resources: Resources, maxPerHost: Int?) -> Bool {
        if !foreignDomains.isEmpty, foreignDomains.contains(vm) { return false }
        if let maxPerHost, count >= maxPerHost { return false }
        if Double(memory + resources.memory) > memoryCapacity { return false }
        return Double(vcpus + resources.vcpus) <= vcpuCapacity
    }

    /// Why a VM with these resources does not fit here, or nil if it does.
    func misfit(vm: String, count: Int, resources: Resources, maxPerHost: Int?) -> String? {
        if foreignDomains.contains(vm) { return "\(name): a domain named \(vm) exists that Drove does not own" }
        if let maxPerHost, count >= maxPerHost { return "\(name): maxPerHost \(maxPerHost) reached" }
        if Double(memory + resources.memory) > memoryCapacity {
            return "\(name): memory \(mebibytes(memory)) of \(mebibytes(UInt64(memoryCapacity))) committed, needs \(mebibytes(resources.memory)) more"
        }
        if Double(vcpus + resources.vcpus) > vcpuCapacity {
            return "\(name): \(vcpus) of \(Int(vcpuCapacity)) vCPUs committed, needs \(resources.vcpus) more"
        }
        return nil
    }

    var memoryUsed: Double { Double(memory) / max(memoryCapacity, 1) }
}

private func mebibytes(_ bytes: UInt64) -> String { "\(bytes >> 20)Mi" }

/// What the reachable hosts have committed, kept up to date as the planner places and removes.
///
/// Indexed for placement, which looks at every eligible host for every new VM (10,000 VMs on
/// 500 hosts is 5 million looks): hosts by position (in name order), each planned set's count
/// and each template's presence as arrays by position, so that a look hashes no name and copies
/// nothing. Only the sets being planned are counted: a controller pass plans one set against a
/// fleet of thousands, and must not build a count array for every other set on every pass.
/// The arrays grow as hosts are added; a position past an array's end reads as 0 (or false).
struct Loads {
    private(set) var hosts: [HostLoad] = []
    private var positions: [String: Int] = [:]
    /// The sets whose counts placement needs.
    private let counted: Set<String>
    /// VMs of each counted set on each host, by host position.
    private var setCounts: [String: [Int]] = [:]
    /// Whether each host holds a complete copy of each template, or is receiving one this pass.
    private var holding: [String: [Bool]] = [:]

    init(counting sets: Set<String>) {
        counted = sets
    }

    /// Adds a reachable host, with the VMs and complete template copies it has. Hosts must be
    /// added in name order.
    mutating func add(host: Host, observed: ObservedHost) {
        precondition(hosts.last.map { $0.name < host.metadata.name } ?? true, "hosts are added in name order")
        let position = hosts.count
        positions[host.metadata.name] = position
        var load = HostLoad(host: host, observed: observed)
        for vm in observed.vms.values {
            load.vcpus += vm.vcpus
            load.memory += vm.memoryBytes
            if counted.contains(vm.set) { setCounts[vm.set, default: []].increment(at: position) }
        }
        hosts.append(load)
        for copy in observed.templates.values where copy.complete {
            holding[copy.digest, default: []].set(at: position)
        }
    }

    func position(of host: String) -> Int? { positions[host] }

    mutating func take(on host: String, set: String, vcpus: Int, memory: UInt64) {
        guard let position = positions[host] else { return }
        hosts[position].vcpus += vcpus
        hosts[position].memory += memory
        if counted.contains(set) { setCounts[set, default: []].increment(at: position) }
    }

    mutating func release(_ vm: ObservedVM, from host: String) {
        guard let position = positions[host] else { return }
        hosts[position].vcpus -= vm.vcpus
        hosts[position].memory -= min(hosts[position].memory, vm.memoryBytes)
        if counted.contains(vm.set) { setCounts[vm.set, default: []].increment(at: position, by: -1) }
    }

    /// Marks `digest` as on its way to `host` (or there).
    mutating func receive(_ digest: String, on host: String) {
        guard let position = positions[host] else { return }
        holding[digest, default: []].set(at: position)
    }

    /// How many VMs of `set` are at each host position (positions past the end hold none).
    /// `set` must be one of the counted sets.
    func counts(of set: String) -> [Int] {
        precondition(counted.contains(set), "set \(set) is not counted")
        return setCounts[set] ?? []
    }

    /// Among the hosts at `candidates` (positions, in name order), the best one for a new VM of
    /// `set` that fits: spread (fewest of the set first) or pack (most first), then hosts that
    /// hold or are receiving the template, then the least committed memory, then the name.
    func best(among candidates: [Int], vm: String, set: String, resources: Resources, maxPerHost: Int?,
              spread: Bool, digest: String) -> Int? {
        let counts = counts(of: set)
        let holds = holding[digest] ?? []
        var best: Int?
        var bestCount = 0, bestHolds = false, bestUsed = 0.0
        for position in candidates {
            let count = position < counts.count ? counts[position] : 0
            guard hosts[position].fits(vm: vm, count: count, resources: resources, maxPerHost: maxPerHost) else { continue }
            let hold = position < holds.count && holds[position]
            let used = hosts[position].memoryUsed
            // Candidates come in name order, so on a full tie the one found first (the lower
            // name) stays best.
            if best != nil {
                if count != bestCount {
                    if spread ? count > bestCount : count < bestCount { continue }
                } else if hold != bestHolds {
                    if !hold { continue }
                } else if used >= bestUsed {
                    continue
                }
            }
            best = position
            bestCount = count
            bestHolds = hold
            bestUsed = used
        }
        return best
    }
}

private extension Array where Element == Int {
    mutating func increment(at position: Int, by amount: Int = 1) {
        if position >= count { append(contentsOf: repeatElement(0, count: position - count + 1)) }
        self[position] += amount
    }
}

private extension Array where Element == Bool {
    mutating func set(at position: Int) {
        if position >= count { append(contentsOf: repeatElement(false, count: position - count + 1)) }
        self[position] = true
    }
}

struct PlacementFailure: Error {
    let cause: Unschedulable.Cause
    let text: String
}

/// The hosts a set may be placed on: how many its selector matches, and which of those are
/// reachable (positions in `Loads`, in name order). Fixed for a whole pass.
struct PlacementCandidates {
    var matching: Int
    /// Matching hosts that offer every network and bridge the set's NICs attach to.
    var offering: Int
    var positions: [Int]
    /// What the matching hosts lack, for the message when none offers it all.
    var lacking: String
}

extension Planner {
    /// Chooses a host for one new VM of `set`: among reachable hosts its selector matches and
    /// that have room, spread (fewest of the set first) or pack (most of the set first), then
    /// preferring hosts that hold or are receiving the template, then the least committed
    /// memory, then the name.
    mutating func place(_ vm: String, set: VMSet, digest: String) -> Result<String, PlacementFailure> {
        let placement = set.spec.placement
        let setName = set.metadata.name
        let candidates = placementCandidates(for: set)
        if candidates.matching > 0, candidates.offering == 0 {
            return .failure(PlacementFailure(cause: .networkNotOffered, text: candidates.lacking))
        }
        guard !candidates.positions.isEmpty else {
            let selector = placement.hostSelector.matchLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let what = selector.isEmpty ? "no host is declared" : "no host matches hostSelector \(selector.joined(separator: ","))"
            return .failure(candidates.matching == 0 ? PlacementFailure(cause: .noMatchingHost, text: what)
                : PlacementFailure(cause: .matchingHostsUnreachable, text: "all \(candidates.offering) matching hosts are unreachable"))
        }
        if let best = loads.best(among: candidates.positions, vm: vm, set: setName, resources: set.spec.resources,
                                 maxPerHost: placement.maxPerHost, spread: placement.spread == .hosts, digest: digest) {
            return .success(loads.hosts[best].name)
        }
        let counts = loads.counts(of: setName)
        let misfits = candidates.positions.compactMap { position in
            loads.hosts[position].misfit(vm: vm, count: position < counts.count ? counts[position] : 0, resources: set.spec.resources, maxPerHost: placement.maxPerHost)
        }
        let shown = misfits.prefix(3).joined(separator: "; ") + (misfits.count > 3 ? "; and \(misfits.count - 3) more" : "")
        return .failure(PlacementFailure(cause: .noRoom, text: "no matching host has room: \(shown)"))
    }

    /// The candidates of `set`, worked out once per pass.
    private mutating func placementCandidates(for set: VMSet) -> PlacementCandidates {
        if let known = candidatesBySet[set.metadata.name] { return known }
        let matching = hosts.filter { set.spec.placement.hostSelector.matches($0.metadata.labels) }
        let attached = set.spec.networks.filter { $0.type != .user }
        // What a Host declares; whether it is there is checked when Drove connects (Host conditions).
        let offering = matching.filter { host in attached.allSatisfy(host.spec.offers) }
        let lacking = attached.map { "\($0.type.rawValue) \($0.source ?? "")" }.joined(separator: ", ")
        let candidates = PlacementCandidates(
            matching: matching.count, offering: offering.count,
            positions: offering.compactMap { loads.position(of: $0.metadata.name) },
            lacking: "no matching host offers \(lacking) (a Host lists what it offers in spec.networks and spec.bridges)")
        candidatesBySet[set.metadata.name] = candidates
        return candidates
    }
}
