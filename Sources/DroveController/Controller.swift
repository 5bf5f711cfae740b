import DroveEngine
import DroveHost
import DroveManifest
import DrovePlan
import DroveQueue
import DroveStore
import Foundation
import Libvirt
import Logging
import Synchronization

/// The always-on controller: it keeps every stored VM set matching its spec, as one fleet.
///
/// Reconciling is level-triggered. The work queue holds VM set names; an apply or delete, a
/// domain event on any host, a host coming back, and a periodic jittered resync only add names.
/// Each reconcile plans its set from the fleet view (kept current by host events, see
/// `FleetView`) with the desired objects parsed once per change, claims what it plans, carries
/// the plan out through the engine's shared host slots, and writes the set's status and events.
public final class Controller: Sendable {
    public struct Options: Sendable {
        public var workers: Int
        public var resync: ResyncSchedule
        /// How soon a set that is still rolling out is looked at again.
        public var progressRequeue: Duration
        public var limits: ExecutionLimits
        /// Which host URIs and files stored manifests may name (the API's policy).
        public var policy: ManifestPolicy
        /// How long a claim carried out may wait for the view to show it before the host is read again.
        public var claimTimeout: Duration

        public init(workers: Int = 4, resync: ResyncSchedule = ResyncSchedule(interval: .seconds(30)),
                    progressRequeue: Duration = .milliseconds(500), limits: ExecutionLimits = ExecutionLimits(),
                    policy: ManifestPolicy = ManifestPolicy(templateFiles: .nowhere), claimTimeout: Duration = .seconds(60)) {
            self.workers = workers
            self.resync = resync
            self.progressRequeue = progressRequeue
            self.limits = limits
            self.policy = policy
            self.claimTimeout = claimTimeout
        }
    }

    public let store: Store
    public let engine: Engine
    public let queue: WorkQueue<String>
    let fleet: HostFleet
    let view: FleetView
    let options: Options
    let logger: Logger
    let desired: DesiredCache
    let phases = VMPhaseBook()
    let copies: TemplateCopyBook
    /// Keys of the golden snapshots this controller made or saw its VMs rest on: the only ones
    /// its garbage collection may delete.
    let goldens = Mutex(Set<String>())
    private let signals: AsyncStream<HostSignal>

    /// - Parameter connector: how hosts are reached; libvirt unless a test says otherwise.
    public init(store: Store, options: Options = Options(), connector: any HostConnector = LibvirtConnector(), logger: Logger) {
        self.store = store
        self.options = options
        self.logger = logger
        engine = Engine(connector: connector, limits: options.limits, templateFiles: options.policy.templateFiles)
        queue = WorkQueue<String>()
        desired = DesiredCache(store: store, policy: options.policy)
        copies = TemplateCopyBook()
        let (signals, signalling) = AsyncStream.makeStream(of: HostSignal.self, bufferingPolicy: .bufferingNewest(10_000))
        self.signals = signals
        view = FleetView(claimTimeout: options.claimTimeout)
        fleet = HostFleet(connector: connector, view: view, logger: logger) { signalling.yield($0) }
        engine.boots.onTimeout { [weak self] host, vm in
            guard let self else { return }
            Task { await self.readinessTimedOut(vm, on: host) }
        }
    }

    /// Runs until cancelled: host supervision, the workers, the resync timer, and the store's
    /// change feed. On cancellation it shuts the queue down, lets workers finish their keys,
    /// and closes every host connection.
    public func run() async {
        let changes = store.changes()
        await refreshHosts()
        await enqueueAllSets()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                await runWorkers(queue: queue, count: options.workers, logger: logger) { [self] set in
                    try await reconcile(set)
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: options.resync.nextDelay())
                    guard !Task.isCancelled else { break }
                    await resync()
                }
            }
            group.addTask { [self] in
                var changes = changes
                while !Task.isCancelled {
                    for await change in changes {
                        await handle(change)
                    }
                    // The feed ends when this watcher fell too far behind (or the store closes):
                    // watch again, and look at everything, since changes may have been missed.
                    guard !Task.isCancelled else { break }
                    changes = store.changes()
                    desired.invalidate()
                    await refreshHosts()
                    await enqueueAllSets()
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            group.addTask { [self] in
                for await signal in signals {
                    await route(signal)
                }
            }
            // Wait for cancellation, then let the workers finish the keys they hold.
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            await queue.shutDown()
            group.cancelAll()
        }
        await fleet.stop()
    }

    /// The hosts as stored, one observation of every host, then every set plans from it (no
    /// further reads for a converged fleet).
    public func resync() async {
        await refreshHosts()
        await view.refreshAll()
        await enqueueAllSets()
    }

    /// Adds a set to the queue (after an apply or delete through the API).
    public func enqueue(_ reference: ObjectReference) async {
        switch reference.kind {
        case .vmSet:
            await queue.add(reference.name)
        case .host, .template:
            await refreshHosts()
            await enqueueAllSets()
        case .gitSource:
            break // GitSync's; what it applies arrives as objects of the other kinds
        }
    }

    // MARK: Triggers

    private func handle(_ change: StoreChange) async {
        switch change {
        case let .objectApplied(reference, _), let .objectDeletionRequested(reference):
            desired.invalidate()
            await enqueue(reference)
        case let .objectPruned(reference):
            desired.invalidate()
            // A set gone may free a Host deleted with it, and its template's copies.
            if reference.kind == .vmSet {
                await refreshHosts()
                await enqueueDeletedTemplates()
            }
        default:
            break
        }
    }

    /// A domain event names a VM; its set is the name without the ordinal (a pass for a set
    /// that is not stored ends at once, so no store read is spent per event). Any other signal
    /// (a host connected or lost) may concern every set.
    private func route(_ signal: HostSignal) async {
        switch signal {
        case let .domain(host, vm, kind):
            // The view has taken the event in: a booting guest may have become ready, or stopped.
            if BootGate.ends(kind) {
                engine.boots.settle(vm)
            } else if let observed = view.vm(vm, on: host) {
                engine.boots.observed(observed)
            }
            if let set = Naming.set(ofVM: vm) { await queue.add(set) }
        case let .connected(host):
            if let cpus = view.cpus(of: host) { engine.boots.configure(host: host, cpus: cpus) }
            await recordHost(host, ready: ConditionReport(.true, .connected, "libvirt answers"), degraded: await check(host))
            await enqueueAllSets()
        case let .lost(host, reason):
            await recordHost(host, ready: ConditionReport(.false, .unreachable, reason))
            await enqueueAllSets()
        }
    }

    /// What the host lacks, as its Degraded condition; nil when it cannot be checked now.
    private func check(_ name: String) async -> ConditionReport? {
        guard let driver = view.drivers()[name], let host = try? await desired.state().manifest.host(named: name) else { return nil }
        let problems = await driver.check(host)
        guard !problems.isEmpty else { return ConditionReport(.false, .noProblems) }
        let message = problems.joined(separator: "; ")
        logger.warning("host check failed", metadata: ["host.name": "\(name)", "problems": "\(message)"])
        _ = try? await store.appendEvent(NewEvent(object: ObjectReference(kind: .host, name: name), host: name, type: .warning,
                                                  reason: .hostCheckFailed, message: "\(name): \(message)"))
        return ConditionReport(.true, .hostCheckFailed, message)
    }

    /// A host's status: Ready while its libvirt answers; Degraded when it lacks something.
    private func recordHost(_ name: String, ready: ConditionReport, degraded: ConditionReport? = nil) async {
        let reference = ObjectReference(kind: .host, name: name)
        guard let object = try? await store.object(kind: .host, name: name) else { return }
        var conditions = [ConditionType.ready: ready]
        if let degraded { conditions[.degraded] = degraded }
        _ = try? await store.setStatus(StatusUpdate(observedGeneration: object.generation, conditions: conditions), for: reference)
        _ = try? await store.appendEvent(ready.status == .true
            ? NewEvent(object: reference, host: name, reason: .hostConnected, message: "\(name) answers")
            : NewEvent(object: reference, host: name, type: .warning, reason: .hostUnreachable, message: "\(name) does not answer: \(ready.message)"))
    }

    /// Every set, and every deleted template whose copies may still be on the hosts.
    func enqueueAllSets() async {
        guard let sets = try? await store.objects(kind: .vmSet) else { return }
        for set in sets { await queue.add(set.reference.name) }
        await enqueueDeletedTemplates()
    }

    /// Watches the declared hosts. A Host being deleted is still watched, and not pruned, while
    /// any VM set is being deleted: a set deleted together with its host must still have its VMs
    /// removed there.
    func refreshHosts() async {
        guard let state = try? await desired.state() else { return }
        let setsLeaving = state.deleting.contains { $0.reference.kind == .vmSet }
        let hosts = state.manifest.hosts + (setsLeaving ? state.deletingHosts : [])
        engine.configure(hosts)
        engine.boots.configure(in: state.manifest)
        fleet.update(hosts)
        // A deleted host holds nothing of its own once no set is leaving it. (A deleted
        // template's copies are removed by its own pass: `templatePass`.)
        for deleted in state.deleting where deleted.reference.kind == .host && !setsLeaving {
            _ = try? await store.markPruned(kind: .host, name: deleted.reference.name)
        }
    }
}

/// The desired objects, read and parsed once per change of the store: the store's change feed
/// moves the version on (`invalidate`), and passes reuse the parse made at the current version.
final class DesiredCache: Sendable {
    private struct Entry {
        var version = 0
        var state: DroveStore.DesiredState?
        /// The version `state` was read at.
        var readAt = -1
    }

    let store: Store
    let policy: ManifestPolicy
    private let entry = Mutex(Entry())

    init(store: Store, policy: ManifestPolicy) {
        self.store = store
        self.policy = policy
    }

    func invalidate() {
        entry.withLock { $0.version += 1 }
    }

    func state() async throws -> DroveStore.DesiredState {
        let (cached, version) = entry.withLock { entry in (entry.readAt == entry.version ? entry.state : nil, entry.version) }
        if let cached { return cached }
        // Read after the change that moved the version on, so it holds that change; a change
        // that comes during the read moves the version again, and the next caller reads anew.
        let state = try await store.desiredState(policy: policy)
        entry.withLock { entry in
            if version > entry.readAt {
                entry.state = state
                entry.readAt = version
            }
        }
        return state
    }
}
