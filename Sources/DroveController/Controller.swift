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
                for await change in changes {
                    await handle(change)
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

    /// One observation of every host, then every set plans from it (no further reads for a
    /// converged fleet).
    public func resync() async {
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
            await enqueue(reference)
        default:
            break
        }
    }

    /// A domain event names a VM; its set is the name without the ordinal. Any other signal
    /// (a host connected or lost) may concern every set.
    private func route(_ signal: HostSignal) async {
        guard let sets = try? await store.objects(kind: .vmSet).map(\.reference.name) else { return }
        switch signal {
        case let .domain(_, vm, _):
            for set in sets where Naming.vm(vm, belongsTo: set) { await queue.add(set) }
        case let .connected(host):
            await recordHost(host, ready: ConditionReport(.true, .connected, "libvirt answers"))
            for set in sets { await queue.add(set) }
        case let .lost(host, reason):
            await recordHost(host, ready: ConditionReport(.false, .unreachable, reason))
            for set in sets { await queue.add(set) }
        }
    }

    /// A host's status: Ready while its libvirt answers.
    private func recordHost(_ name: String, ready: ConditionReport) async {
        let reference = ObjectReference(kind: .host, name: name)
        guard let object = try? await store.object(kind: .host, name: name) else { return }
        _ = try? await store.setStatus(StatusUpdate(observedGeneration: object.generation, conditions: [.ready: ready]), for: reference)
        _ = try? await store.appendEvent(ready.status == .true
            ? NewEvent(object: reference, host: name, reason: .hostConnected, message: "\(name) answers")
            : NewEvent(object: reference, host: name, type: .warning, reason: .hostUnreachable, message: "\(name) does not answer: \(ready.message)"))
    }

    func enqueueAllSets() async {
        guard let sets = try? await store.objects(kind: .vmSet) else { return }
        for set in sets { await queue.add(set.reference.name) }
    }

    func refreshHosts() async {
        guard let state = try? await desired.state() else { return }
        engine.configure(state.manifest.hosts)
        fleet.update(state.manifest.hosts)
        for deleted in state.deleting where [.host, .template].contains(deleted.reference.kind) {
            // Hosts and templates hold nothing of their own once no set uses them (the store
            // refuses to delete a template in use).
            _ = try? await store.markPruned(kind: deleted.reference.kind, name: deleted.reference.name)
        }
    }
}

/// The desired objects, parsed once per change of the store: a pass reads the objects' names and
/// generations (no parsing) and reuses the last parse while they are the same.
final class DesiredCache: Sendable {
    private struct Entry {
        var fingerprint: [String]
        var state: DroveStore.DesiredState
    }

    let store: Store
    let policy: ManifestPolicy
    private let cached = Mutex<Entry?>(nil)

    init(store: Store, policy: ManifestPolicy) {
        self.store = store
        self.policy = policy
    }

    func state() async throws -> DroveStore.DesiredState {
        let fingerprint = try await store.objects().map { "\($0.reference)@\($0.generation)\($0.deletionRequested ? "-" : "")" }
        if let entry = cached.withLock({ $0 }), entry.fingerprint == fingerprint { return entry.state }
        let state = try await store.desiredState(policy: policy)
        cached.withLock { $0 = Entry(fingerprint: fingerprint, state: state) }
        return state
    }
}
