import DroveEngine
import DroveHost
import DroveManifest
import DrovePlan
import DroveQueue
import DroveStore
import Foundation
import Libvirt
import Logging

/// The always-on controller: it keeps every stored VM set matching its spec.
///
/// Reconciling is level-triggered. The work queue holds VM set names; an apply or delete, a
/// domain event on any host, a host coming back, and a periodic jittered resync only add names.
/// Each reconcile reads the desired objects from the store and the fleet from libvirt anew,
/// plans that one set, carries the plan out, and writes the set's status and events.
public final class Controller: Sendable {
    public struct Options: Sendable {
        public var workers: Int
        public var resync: ResyncSchedule
        /// How soon a set that is still rolling out is looked at again.
        public var progressRequeue: Duration
        public var limits: ExecutionLimits
        /// Which host URIs and files stored manifests may name (the API's policy).
        public var policy: ManifestPolicy

        public init(workers: Int = 4, resync: ResyncSchedule = ResyncSchedule(interval: .seconds(30)),
                    progressRequeue: Duration = .milliseconds(500), limits: ExecutionLimits = ExecutionLimits(),
                    policy: ManifestPolicy = ManifestPolicy(templateFiles: .nowhere)) {
            self.policy = policy
            self.workers = workers
            self.resync = resync
            self.progressRequeue = progressRequeue
            self.limits = limits
        }
    }

    public let store: Store
    public let fleet: HostFleet
    public let queue: WorkQueue<String>
    let options: Options
    let logger: Logger
    let images = ImageCache()
    private let signals: AsyncStream<HostSignal>

    public init(store: Store, options: Options = Options(), logger: Logger) {
        self.store = store
        self.options = options
        self.logger = logger
        queue = WorkQueue<String>()
        let (signals, signalling) = AsyncStream.makeStream(of: HostSignal.self, bufferingPolicy: .bufferingNewest(10_000))
        self.signals = signals
        fleet = HostFleet(logger: logger) { signalling.yield($0) }
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
                    await enqueueAllSets()
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

    /// Adds a set to the queue (after an apply or delete through the API).
    public func enqueue(_ reference: ObjectReference) async {
        if reference.kind == .vmSet {
            await queue.add(reference.name)
        } else {
            await refreshHosts()
            await enqueueAllSets()
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
            await recordHost(host, ready: ConditionReport(status: .true, reason: "Connected", message: "libvirt answers"))
            for set in sets { await queue.add(set) }
        case let .lost(host, reason):
            await recordHost(host, ready: ConditionReport(status: .false, reason: "Unreachable", message: reason))
            for set in sets { await queue.add(set) }
        }
    }

    /// A host's status: Ready while its libvirt answers.
    private func recordHost(_ name: String, ready: ConditionReport) async {
        let reference = ObjectReference(kind: .host, name: name)
        guard let object = try? await store.object(kind: .host, name: name) else { return }
        _ = try? await store.setStatus(StatusUpdate(observedGeneration: object.generation, conditions: [.ready: ready]), for: reference)
        if ready.status == .false {
            _ = try? await store.appendEvent(NewEvent(object: reference, host: name, type: .warning, reason: "HostUnreachable",
                                                      message: "\(name) does not answer: \(ready.message)"))
        }
    }

    func enqueueAllSets() async {
        guard let sets = try? await store.objects(kind: .vmSet) else { return }
        for set in sets { await queue.add(set.reference.name) }
    }

    func refreshHosts() async {
        guard let state = try? await store.desiredState(policy: options.policy) else { return }
        fleet.update(state.manifest.hosts)
        for deleted in state.deleting where deleted.reference.kind != .vmSet {
            // Hosts and templates hold nothing of their own once no set uses them (the store
            // refuses to delete a template in use).
            _ = try? await store.markPruned(kind: deleted.reference.kind, name: deleted.reference.name)
        }
    }
}
