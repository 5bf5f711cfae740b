import DroveEngine
import DroveHost
import DrovePlan
import Libvirt
import Synchronization

/// The controller's one view of the fleet, as controller-runtime's informer cache: each host is
/// observed in full when it connects, on resync, and when an action on it failed; between those,
/// libvirt's domain events keep it current (a domain is read alone only when an event cannot be
/// applied as it is). Reconciles plan from a snapshot of it and make no reads of their own.
///
/// Over the observed state lie the **claims** of the passes in flight: what a pass planned to
/// create, start, stop or remove, taken in the same critical section as its plan. A claimed VM
/// counts against its host's capacity for every other pass (so two sets planned at once never
/// overcommit a host) and, for its own set, as already there (so a VM is never made twice while
/// its events are on their way). A claim ends when the view shows what it expected, when its
/// actions failed, or, once carried out, after `claimTimeout` (then the host is read again).
final class FleetView: Sendable {
    enum Expectation: Sendable, Equatable {
        case present(ObservedVM)
        case absent
    }

    struct Claim: Sendable {
        var host: String
        var vm: String
        var expectation: Expectation
        var pass: Int
        /// When its actions were all carried out; nil while they are pending or running.
        var doneAt: ContinuousClock.Instant?
        /// The view's sequence number then: an observation begun later supersedes the claim.
        var doneSequence: Int?
    }

    private struct HostEntry {
        var driver: (any HostDriver)?
        var observed: ObservedHost
        /// Sequence number of the last event applied to each domain.
        var domainSequence: [String: Int] = [:]
        /// Sequence number of the last change to the host's volumes made by an action here.
        var volumeSequence = 0
        /// Whether the next snapshot must come after a full observation.
        var dirty = true
        var observations = 0
        /// Whether an observation of it ever succeeded: only then is `lastSeen` what it holds.
        var seen = false
        /// VMs an action may have made there without the view knowing (its claim failed or
        /// expired, or the host went dark under it), until the next full observation says.
        var uncertain: Set<String> = []
        /// The VMs it held when it was last reachable, while it is not: unknown, not gone.
        var lastSeen: [ObservedVM] = []
    }

    private struct State {
        var hosts: [String: HostEntry] = [:]
        var claims: [String: Claim] = [:] // by "host/vm"
        var sequence = 0
        var nextPass = 0
    }

    private let state = Mutex(State())
    private let observing = SingleFlight<String>()
    let claimTimeout: Duration

    init(claimTimeout: Duration = .seconds(60)) {
        self.claimTimeout = claimTimeout
    }

    // MARK: Hosts

    /// A host answers (again): read it in full.
    func connected(_ host: String, driver: any HostDriver) async {
        state.withLock { state in
            var entry = state.hosts[host] ?? HostEntry(observed: ObservedHost(name: host, unreachable: "connecting"))
            entry.driver = driver
            entry.dirty = true
            state.hosts[host] = entry
        }
        await refresh(host)
    }

    /// A host stopped answering: its VMs are unknown until it is back.
    func lost(_ host: String, reason: String) {
        state.withLock { state in
            var entry = state.hosts[host] ?? HostEntry(observed: ObservedHost(name: host))
            entry.driver = nil
            if entry.observed.isReachable { entry.lastSeen = Array(entry.observed.vms.values) }
            entry.uncertain.formUnion(Self.making(on: host, state.claims))
            entry.observed = ObservedHost(name: host, unreachable: reason)
            entry.dirty = true
            state.hosts[host] = entry
        }
    }

    /// Keeps exactly `names` (the declared hosts); a new one starts as connecting.
    func declare(_ names: Set<String>) {
        state.withLock { state in
            for name in state.hosts.keys where !names.contains(name) { state.hosts[name] = nil }
            for name in names where state.hosts[name] == nil {
                state.hosts[name] = HostEntry(observed: ObservedHost(name: name, unreachable: "connecting"))
            }
            state.claims = state.claims.filter { names.contains($0.value.host) }
        }
    }

    /// The CPUs of `host`, once it has been read.
    func cpus(of host: String) -> Int? {
        state.withLock { state in state.hosts[host].flatMap { $0.observed.isReachable ? $0.observed.cpus : nil } }
    }

    /// One VM as the view holds it on `host`.
    func vm(_ name: String, on host: String) -> ObservedVM? {
        state.withLock { $0.hosts[host]?.observed.vms[name] }
    }

    /// The drivers of the hosts that answer.
    func drivers() -> [String: any HostDriver] {
        state.withLock { state in state.hosts.compactMapValues(\.driver) }
    }

    /// Full observations made of `host` so far (for tests and metrics).
    func observations(of host: String) -> Int {
        state.withLock { $0.hosts[host]?.observations ?? 0 }
    }

    /// Observes every host that answers (a resync), at once.
    func refreshAll() async {
        let names = state.withLock { state in state.hosts.filter { $0.value.driver != nil }.map(\.key) }
        await withTaskGroup(of: Void.self) { group in
            for name in names { group.addTask { await self.refresh(name) } }
        }
    }

    /// Observes the hosts whose view is in doubt (an action failed there, or it just connected).
    func refreshDirty() async {
        let names = state.withLock { state in state.hosts.filter { $0.value.dirty && $0.value.driver != nil }.map(\.key) }
        await withTaskGroup(of: Void.self) { group in
            for name in names { group.addTask { await self.refresh(name) } }
        }
    }

    /// One full observation of `host` (joined if one is already under way). What events or this
    /// process's own actions changed while it ran is kept: they are newer than what it read.
    func refresh(_ host: String) async {
        _ = try? await observing.run(host) { [self] in
            guard let (driver, started) = state.withLock({ state -> ((any HostDriver), Int)? in
                guard let driver = state.hosts[host]?.driver else { return nil }
                state.sequence += 1
                return (driver, state.sequence)
            }) else { return }
            let observed = await driver.observe()
            state.withLock { state in
                guard var entry = state.hosts[host], entry.driver != nil else { return }
                entry.observations += 1
                guard observed.isReachable else {
                    if entry.observed.isReachable { entry.lastSeen = Array(entry.observed.vms.values) }
                    entry.uncertain.formUnion(Self.making(on: host, state.claims))
                    entry.observed = observed
                    state.hosts[host] = entry
                    return
                }
                var merged = observed
                let current = entry.observed
                entry.lastSeen = []
                for (name, sequence) in entry.domainSequence where sequence > started {
                    merged.vms[name] = current.vms[name]
                    if current.foreignDomains.contains(name) { merged.foreignDomains.insert(name) } else { merged.foreignDomains.remove(name) }
                }
                if entry.volumeSequence > started, current.isReachable {
                    merged.templates = current.templates
                    merged.strayVolumes = current.strayVolumes
                }
                entry.observed = merged
                entry.seen = true
                entry.uncertain = []
                entry.dirty = false
                state.hosts[host] = entry
                // What was read after a claim was carried out is the truth about it.
                state.claims = state.claims.filter { _, claim in
                    !(claim.host == host && (claim.doneSequence ?? Int.max) < started)
                }
            }
        }
    }

    // MARK: Events

    /// Applies one event from `host`; returns the domain to read alone when the event does not
    /// say enough (a domain defined by someone else, an unknown kind).
    func apply(_ event: DomainEvent.Kind, domain name: String, on host: String) -> Bool {
        state.withLock { state in
            guard var entry = state.hosts[host], entry.observed.isReachable else { return false }
            state.sequence += 1
            entry.domainSequence[name] = state.sequence
            var needsRead = false
            switch event {
            case .undefined:
                entry.observed.vms[name] = nil
                entry.observed.foreignDomains.remove(name)
            case .started, .resumed:
                if entry.observed.vms[name] != nil { entry.observed.vms[name]!.state = .running } else { needsRead = !entry.observed.foreignDomains.contains(name) }
            case .stopped, .crashed:
                if entry.observed.vms[name] != nil {
                    entry.observed.vms[name]!.state = .stopped
                    entry.observed.vms[name]!.agentConnected = false
                } else { needsRead = !entry.observed.foreignDomains.contains(name) }
            case .agentConnected:
                if let vm = entry.observed.vms[name] {
                    entry.observed.vms[name]!.agentConnected = vm.state == .running
                    // A guest that says it is up has usually taken its DHCP lease by then.
                    needsRead = vm.addressable && vm.addresses.isEmpty
                } else { needsRead = !entry.observed.foreignDomains.contains(name) }
            case .agentDisconnected:
                entry.observed.vms[name]?.agentConnected = false
            case .defined:
                // Defined by a pass here: the claim says what it is. Otherwise read it.
                if case let .present(expected)? = state.claims[Self.key(host, name)]?.expectation {
                    var vm = expected
                    vm.state = entry.observed.vms[name]?.state ?? .stopped
                    vm.agentConnected = false
                    entry.observed.vms[name] = vm
                    entry.observed.strayVolumes.remove(vm.volume)
                } else {
                    needsRead = true
                }
            case .shutdown, .suspended, .pmSuspended, .other:
                needsRead = entry.observed.vms[name] != nil
            }
            state.hosts[host] = entry
            Self.settle(&state, host: host, vm: name)
            return needsRead
        }
    }

    /// Reads one domain after an event, and applies what it read unless a newer event for the
    /// same domain came in meanwhile.
    func read(_ name: String, on host: String) async {
        guard let (driver, sequence) = state.withLock({ state -> ((any HostDriver), Int)? in
            guard let entry = state.hosts[host], let driver = entry.driver else { return nil }
            return (driver, entry.domainSequence[name] ?? 0)
        }) else { return }
        let observation: DomainObservation
        do {
            observation = try await driver.observeDomain(name)
        } catch {
            state.withLock { $0.hosts[host]?.dirty = true }
            return
        }
        state.withLock { state in
            guard var entry = state.hosts[host], entry.observed.isReachable, (entry.domainSequence[name] ?? 0) == sequence else { return }
            switch observation {
            case let .drove(vm):
                entry.observed.vms[name] = vm
                entry.observed.foreignDomains.remove(name)
                entry.observed.strayVolumes.remove(vm.volume)
            case .foreign:
                entry.observed.vms[name] = nil
                entry.observed.foreignDomains.insert(name)
            case .absent:
                entry.observed.vms[name] = nil
                entry.observed.foreignDomains.remove(name)
            }
            state.hosts[host] = entry
            Self.settle(&state, host: host, vm: name)
        }
    }

    // MARK: Plans and claims

    /// The fleet as observed, with every claim in flight laid over it. With `removals: false`,
    /// VMs claimed for removal still show (they exist until libvirt says they are gone): what
    /// people are told, where the planner's view hides them.
    func snapshot(removals: Bool = true) -> ObservedFleet {
        state.withLock { state in
            Self.expire(&state, now: .now, timeout: claimTimeout)
            return Self.overlaid(state, removals: removals)
        }
    }

    /// Plans against the current snapshot and claims what the plan will do, in one critical
    /// section, so no other pass can plan against the same free capacity. Returns the plan and
    /// the pass number its claims carry.
    /// `removals: false` plans as if the removals under way had not happened yet (what must
    /// not act before they are done, such as deleting a template copy their VMs rest on).
    func plan(_ desired: DesiredState, removals: Bool = true) -> (plan: Plan, pass: Int, fleet: ObservedFleet) {
        state.withLock { state in
            Self.expire(&state, now: .now, timeout: claimTimeout)
            let fleet = Self.overlaid(state, removals: removals)
            let plan = DrovePlan.plan(desired, fleet)
            state.nextPass += 1
            let pass = state.nextPass
            for (key, claim) in Self.claims(of: plan, fleet: fleet, pass: pass) { state.claims[key] = claim }
            return (plan, pass, fleet)
        }
    }

    /// After a pass: the claims of VMs whose actions all succeeded wait for the view to show
    /// them; the others end, and their hosts are read again before anyone plans on them.
    func finish(pass: Int, plan: Plan, outcome: Executor.Outcome) {
        let failedActions = Set(outcome.failed.keys).union(outcome.skipped)
        var failed: Set<String> = [] // "host/vm"
        for action in plan.actions where failedActions.contains(action.id) {
            if let vm = Self.vm(of: action.kind) { failed.insert(Self.key(action.host, vm)) }
        }
        let hostsWithFailures = Set(plan.actions.filter { failedActions.contains($0.id) }.map(\.host))
        state.withLock { state in
            state.sequence += 1
            for (key, claim) in state.claims where claim.pass == pass {
                if failed.contains(key) {
                    state.claims[key] = nil
                    // A failed action may still have made it (the answer lost with a connection).
                    if claim.expectation != .absent { state.hosts[claim.host]?.uncertain.insert(claim.vm) }
                } else {
                    state.claims[key]?.doneAt = .now
                    state.claims[key]?.doneSequence = state.sequence
                    Self.settle(&state, host: claim.host, vm: claim.vm)
                }
            }
            for host in hostsWithFailures { state.hosts[host]?.dirty = true }
        }
    }

    /// What a successful action did to the host's volumes (libvirt sends no events for them).
    func applied(_ action: Action) {
        state.withLock { state in
            guard var entry = state.hosts[action.host], entry.observed.isReachable else { return }
            state.sequence += 1
            switch action.kind {
            case let .copyTemplate(image):
                entry.observed.templates[image.digest] = TemplateCopy(digest: image.digest, volume: image.volume, complete: true)
            case let .createDisk(vm):
                if entry.observed.vms[vm.name]?.volume != vm.volume { entry.observed.strayVolumes.insert(vm.volume) }
            case let .defineVM(vm):
                entry.observed.strayVolumes.remove(vm.volume)
            case let .deleteVolume(volume):
                entry.observed.strayVolumes.remove(volume)
            case let .deleteTemplateCopy(digest, _):
                entry.observed.templates[digest] = nil
            case let .makeGolden(golden):
                entry.observed.goldens[golden.name.key] = GoldenCopy(name: golden.name, state: .complete)
            case let .deleteGolden(golden):
                entry.observed.goldens[golden.key] = nil
            case .startVM, .restoreVM, .stopVM, .removeVM:
                return
            }
            entry.volumeSequence = state.sequence
            state.hosts[action.host] = entry
        }
    }

    /// The VMs last seen on hosts that do not answer now, by host.
    func lastSeen() -> [String: [ObservedVM]] {
        state.withLock { state in state.hosts.filter { !$0.value.lastSeen.isEmpty }.mapValues(\.lastSeen) }
    }

    /// Claims in flight, for status: by VM name.
    func claims() -> [String: Claim] {
        state.withLock { state in
            Dictionary(state.claims.values.map { ($0.vm, $0) }, uniquingKeysWith: { first, second in
                if case .present = second.expectation { return second }
                return first
            })
        }
    }

    // MARK: Internals

    private static func key(_ host: String, _ vm: String) -> String { "\(host)/\(vm)" }

    private static func vm(of kind: Action.Kind) -> String? {
        switch kind {
        case let .createDisk(vm), let .defineVM(vm): vm.name
        case let .startVM(name), let .restoreVM(name, _), let .stopVM(name), let .removeVM(name): name
        case .copyTemplate, .deleteVolume, .deleteTemplateCopy, .makeGolden, .deleteGolden: nil
        }
    }

    /// The expectations a plan sets up, one per (host, VM); a VM made anew on the host it is
    /// removed from is expected present.
    private static func claims(of plan: Plan, fleet: ObservedFleet, pass: Int) -> [String: Claim] {
        var claims: [String: Claim] = [:]
        let starting = Set(plan.actions.compactMap { action -> String? in
            action.startedVM.map { key(action.host, $0) }
        })
        for action in plan.actions {
            let expectation: (String, Expectation)?
            switch action.kind {
            case let .defineVM(vm):
                let observed = ObservedVM(
                    name: vm.name, set: vm.set, ordinal: vm.ordinal, specHash: vm.specHash, templateDigest: vm.template.digest,
                    volume: vm.volume, vcpus: vm.resources.vcpus, memoryBytes: vm.resources.memory,
                    state: starting.contains(key(action.host, vm.name)) ? .running : .stopped,
                    addressable: vm.nics.contains { $0.network.type != .user }, golden: vm.golden?.name.key)
                expectation = (vm.name, .present(observed))
            case let .startVM(name), let .restoreVM(name, _):
                if case .present? = claims[key(action.host, name)]?.expectation { continue }
                expectation = fleet.hosts[action.host]?.vms[name].map { vm in
                    var vm = vm
                    vm.state = .running
                    vm.agentConnected = false
                    return (name, .present(vm))
                }
            case let .stopVM(name):
                expectation = fleet.hosts[action.host]?.vms[name].map { vm in
                    var vm = vm
                    vm.state = .stopped
                    vm.agentConnected = false
                    return (name, .present(vm))
                }
            case let .removeVM(name):
                if case .present? = claims[key(action.host, name)]?.expectation { continue }
                expectation = (name, .absent)
            case .copyTemplate, .createDisk, .deleteVolume, .deleteTemplateCopy, .makeGolden, .deleteGolden:
                expectation = nil
            }
            guard let (vm, expected) = expectation else { continue }
            claims[key(action.host, vm)] = Claim(host: action.host, vm: vm, expectation: expected, pass: pass)
        }
        return claims
    }

    /// Ends the claim on `vm` if the view now shows what it expected.
    private static func settle(_ state: inout State, host: String, vm: String) {
        let key = key(host, vm)
        guard let claim = state.claims[key], claim.doneAt != nil, let observed = state.hosts[host]?.observed else { return }
        switch claim.expectation {
        case let .present(expected):
            if let actual = observed.vms[vm], actual.specHash == expected.specHash, actual.state == expected.state {
                state.claims[key] = nil
            }
        case .absent:
            if observed.vms[vm] == nil { state.claims[key] = nil }
        }
    }

    /// Claims carried out long ago whose outcome the view never showed (an event lost): end
    /// them and read the host again.
    private static func expire(_ state: inout State, now: ContinuousClock.Instant, timeout: Duration) {
        for (key, claim) in state.claims {
            guard let doneAt = claim.doneAt, now - doneAt > timeout else { continue }
            state.claims[key] = nil
            state.hosts[claim.host]?.dirty = true
            if claim.expectation != .absent { state.hosts[claim.host]?.uncertain.insert(claim.vm) }
        }
    }

    /// The VMs that claims on `host` are making (or remaking) there.
    private static func making(on host: String, _ claims: [String: Claim]) -> Set<String> {
        Set(claims.values.filter { $0.host == host && $0.expectation != .absent }.map(\.vm))
    }

    private static func overlaid(_ state: State, removals: Bool = true) -> ObservedFleet {
        var hosts = state.hosts.mapValues(\.observed)
        for (name, entry) in state.hosts where !entry.observed.isReachable && entry.seen {
            hosts[name]?.mayHold = Set(entry.lastSeen.map(\.name)).union(entry.uncertain).union(making(on: name, state.claims))
        }
        for claim in state.claims.values {
            guard var host = hosts[claim.host], host.isReachable else { continue }
            switch claim.expectation {
            case let .present(vm):
                var vm = vm
                if let actual = host.vms[claim.vm], actual.specHash == vm.specHash, actual.state == vm.state { vm.agentConnected = actual.agentConnected; vm.addresses = actual.addresses }
                host.vms[claim.vm] = vm
                host.strayVolumes.remove(vm.volume)
            case .absent:
                if removals { host.vms[claim.vm] = nil }
            }
            hosts[claim.host] = host
        }
        return ObservedFleet(hosts: Array(hosts.values))
    }
}
