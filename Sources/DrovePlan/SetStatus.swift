import DroveManifest

/// How one VM set stands against the fleet as observed: the counts its status reports and the
/// conditions they imply. Pure, so `drove up`, the controller and the tests agree on what
/// "ready" means.
public struct SetTally: Sendable, Equatable {
    public var replicas: Int
    /// VMs of the set with an ordinal below `replicas`, wherever they are.
    public var present: Int
    public var running: Int
    /// Running and, where the template can tell (`readiness: agent`), up by its guest's word.
    public var ready: Int
    /// Made from the current spec (resources, network, template content, domain type).
    public var updated: Int
    /// Both ready and updated.
    public var readyAndUpdated: Int
    /// Replicas that may be on a host that does not answer.
    public var unknown: Int
    /// Where readiness came from.
    public var readiness: Readiness
    public var maxUnavailable: Int
    public var runStrategy: RunStrategy

    /// Every replica is ready and made from the current spec (for a stopped set: present and
    /// current).
    public var isReady: Bool {
        runStrategy == .stopped ? present == replicas && updated == replicas && unknown == 0
            : readyAndUpdated == replicas && unknown == 0
    }

    /// Enough replicas are ready for the set to serve: at least `replicas - maxUnavailable`.
    public var isAvailable: Bool {
        runStrategy == .stopped ? true : ready >= max(0, replicas - maxUnavailable)
    }

    /// Counts `set`'s VMs in `fleet`. `hosts` resolve each host's domain type, which is part of
    /// the spec a VM was made from; `image` is nil when the template could not be read (then
    /// no VM counts as updated).
    public static func of(_ set: VMSet, readiness: Readiness, image: TemplateImage?, hosts: [Host],
                          fleet: ObservedFleet, unknown: Int) -> SetTally {
        let spec = set.spec
        let byName = Dictionary(hosts.map { ($0.metadata.name, $0) }, uniquingKeysWith: { first, _ in first })
        var tally = SetTally(replicas: spec.replicas, present: 0, running: 0, ready: 0, updated: 0, readyAndUpdated: 0,
                             unknown: unknown, readiness: readiness, maxUnavailable: spec.updateStrategy.maxUnavailable,
                             runStrategy: spec.runStrategy)
        var seen: Set<Int> = []
        for observed in fleet.hosts.values.sorted(by: { $0.name < $1.name }) {
            for vm in observed.vms.values where vm.set == set.metadata.name && vm.ordinal < spec.replicas {
                guard seen.insert(vm.ordinal).inserted else { continue } // a duplicate counts once
                tally.present += 1
                if vm.state == .running { tally.running += 1 }
                let ready = isReady(vm, readiness: readiness)
                if ready { tally.ready += 1 }
                let current = image.flatMap { image in
                    byName[observed.name].map { SpecHash.of(spec, templateDigest: image.digest, domainType: Planner.domainType($0, observed: observed)) }
                }
                if vm.specHash == current {
                    tally.updated += 1
                    if ready || spec.runStrategy == .stopped { tally.readyAndUpdated += 1 }
                }
            }
        }
        return tally
    }

    /// Whether one VM is ready: running, and, for `agent` readiness, its guest opened the agent
    /// channel; for `address`, an address of it is known.
    public static func isReady(_ vm: ObservedVM, readiness: Readiness) -> Bool {
        switch readiness {
        case .agent: vm.state == .running && vm.agentConnected
        case .address: vm.state == .running && !vm.addresses.isEmpty
        case .running: vm.state == .running
        }
    }

    /// How a set's VMs tell they are up: the set's `readiness`, else its template's.
    public static func readiness(of set: VMSet, in manifest: Manifest) -> Readiness {
        set.spec.readiness ?? manifest.template(named: set.spec.template)?.spec.readiness ?? .running
    }
}
