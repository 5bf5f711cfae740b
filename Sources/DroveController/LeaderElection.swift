import DroveStore
import Foundation
import Logging
import Metrics
import Synchronization

/// Several `drove serve` replicas, one leader: the replica holding the store's `controller`
/// lease reconciles and talks to hosts; the others serve the API from the shared store and
/// wait. Kubernetes' leader election, on the store's lease (see `Store.tryAcquireLease`).
///
/// The leader renews every `renewInterval`. It stops acting on hosts once `leaseDuration -
/// margin` has passed since the start of its last renewal that succeeded, whether or not the
/// renewals after it ever come back (a store that hangs is a store that is gone), by
/// cancelling `lead`: the executor then starts no further action (see `Executor`). The lease
/// runs out by the database's clock `leaseDuration` after that renewal reached the database,
/// which is later still; only then can another replica take it. So two leaders never act at
/// once, provided the two machines' clocks run at rates that differ by less than
/// `margin / leaseDuration` (20% by default): no clock needs to be set right.
///
/// A replica that takes the lease starts `lead` afresh: a new controller, which observes every
/// host before it plans.
public final class LeaderElector: Sendable {
    public struct Options: Sendable {
        public var leaseName: String
        public var leaseDuration: Duration
        public var renewInterval: Duration
        /// How long before the lease runs out the leader stops acting.
        public var margin: Duration

        public init(leaseName: String = "controller", leaseDuration: Duration = .seconds(10), renewInterval: Duration = .seconds(2),
                    margin: Duration = .seconds(2)) {
            precondition(margin < leaseDuration && renewInterval < leaseDuration - margin, "renew well within the lease")
            self.leaseName = leaseName
            self.leaseDuration = leaseDuration
            self.renewInterval = renewInterval
            self.margin = margin
        }
    }

    /// What this replica knows of the leadership.
    public struct Status: Sendable, Hashable {
        /// This replica's identity.
        public var identity: String
        public var isLeader: Bool
        /// The lease as last read (nil before the first read, or if it was never taken).
        public var lease: Lease?
        /// Why the last attempt failed, if it did.
        public var error: String?
    }

    public let identity: String
    private let address: String
    private let startedAt = Date()
    private let store: Store
    private let options: Options
    private let logger: Logger
    private let state: Mutex<Status>
    /// When the leader must have stopped acting (local monotonic clock).
    private let deadline = Mutex<ContinuousClock.Instant?>(nil)
    private let leaderGauge: Gauge
    private let transitionsGauge: Gauge
    private let leaseAgeGauge: Gauge

    /// - Parameters:
    ///   - identity: unique to this process run.
    ///   - address: where this replica's API listens, as other replicas and users reach it.
    public init(store: Store, identity: String, address: String, options: Options = Options(), logger: Logger) {
        self.store = store
        self.identity = identity
        self.address = address
        self.options = options
        self.logger = logger
        state = Mutex(Status(identity: identity, isLeader: false))
        leaderGauge = Gauge(label: "drove_controller_leader")
        transitionsGauge = Gauge(label: "drove_controller_lease_transitions")
        leaseAgeGauge = Gauge(label: "drove_controller_lease_age_seconds")
        leaderGauge.record(0)
    }

    public var status: Status { state.withLock { $0 } }

    /// Campaigns until cancelled; runs `lead` while this replica leads, cancelling it when the
    /// lease is lost (and starting it afresh when it is taken again). On cancellation it stops
    /// leading and gives the lease up, so another replica need not wait for it to run out.
    public func run(lead: @escaping @Sendable () async -> Void) async {
        var leadership: Task<Void, Never>?
        let clock = ContinuousClock()
        while !Task.isCancelled {
            let attemptStarted = clock.now
            let attempt: LeaseAttempt?
            do {
                attempt = try await store.tryAcquireLease(options.leaseName, holder: identity, duration: options.leaseDuration.seconds)
                try? await store.recordController(id: identity, address: address, startedAt: startedAt)
            } catch {
                attempt = nil
                state.withLock { $0.error = "\(error)" }
                logger.warning("leader election: the store did not answer", metadata: ["error": "\(error)"])
            }
            if let attempt {
                let lease = attempt.lease
                state.withLock { $0.lease = lease; $0.error = nil }
                transitionsGauge.record(lease.transitions)
                leaseAgeGauge.record(lease.age)
                switch attempt {
                case .acquired, .renewed:
                    deadline.withLock { $0 = attemptStarted + options.leaseDuration - options.margin }
                    // Stopped by its watchdog since: start afresh, from a new observation.
                    if let stopped = leadership, !status.isLeader {
                        await stopped.value
                        leadership = nil
                    }
                    // A renewal that came back too late to act on is no reason to start.
                    if leadership == nil, isWithinDeadline(clock.now) {
                        logger.notice("leader election: this replica leads", metadata: ["controller.id": "\(identity)",
                                                                                        "lease.transitions": "\(lease.transitions)"])
                        leadership = startLeading(lead)
                    }
                case .heldByAnother:
                    deadline.withLock { $0 = nil }
                }
            }
            // Lost (another holds it, or the deadline passed without a renewal): stop.
            if let running = leadership, !isWithinDeadline(clock.now) {
                running.cancel()
                await running.value
                leadership = nil
                logger.warning("leader election: this replica no longer leads", metadata: ["controller.id": "\(identity)"])
            }
            try? await Task.sleep(until: attemptStarted + options.renewInterval, clock: clock)
        }
        if let running = leadership {
            running.cancel()
            await running.value
            // Given up only once nothing more is done on hosts.
            _ = try? await store.releaseLease(options.leaseName, holder: identity)
        }
        state.withLock { $0.isLeader = false }
        leaderGauge.record(0)
    }

    /// Runs `lead` beside a watchdog that cancels it at the deadline, whether or not the
    /// renewals come back: the deadline moves only when one succeeds.
    private func startLeading(_ lead: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        state.withLock { $0.isLeader = true }
        leaderGauge.record(1)
        return Task { [self] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await lead() }
                group.addTask { [self] in
                    let clock = ContinuousClock()
                    while !Task.isCancelled, let until = deadline.withLock({ $0 }), clock.now < until {
                        try? await Task.sleep(until: until, clock: clock)
                    }
                    if !Task.isCancelled {
                        logger.warning("leader election: the lease could not be renewed in time; stopping all work on hosts")
                    }
                }
                await group.next()
                // From here on it acts on no host (the executor checks before every call), so
                // it says so at once, though its controller may take a while to wind down.
                state.withLock { $0.isLeader = false }
                leaderGauge.record(0)
                group.cancelAll()
            }
        }
    }

    private func isWithinDeadline(_ now: ContinuousClock.Instant) -> Bool {
        guard let until = deadline.withLock({ $0 }) else { return false }
        return now < until
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
