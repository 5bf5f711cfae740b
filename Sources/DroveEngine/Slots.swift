import DroveManifest
import Synchronization

/// A counting semaphore for tasks: `acquire` waits (first come, first served) while all
/// permits are out. Waiting is not cancellable: a holder always finishes its libvirt call.
final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(permits: Int) {
        state = Mutex(State(available: max(1, permits)))
    }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.available += 1
            return nil
        }
        next?.resume()
    }

    func withPermit<T>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }
}

/// A host's limits, read once from its Host object.
public struct HostLimits: Sendable, Hashable {
    /// Actions running against the host at once (`spec.maxParallel`).
    public var parallel: Int
    /// Template uploads to the host at once (`spec.maxTransfers`); each also takes a parallel slot.
    public var transfers: Int

    public init(parallel: Int, transfers: Int) {
        self.parallel = parallel
        self.transfers = transfers
    }

    public init(_ host: Host) {
        self.init(parallel: host.spec.maxParallel, transfers: host.spec.maxTransfers)
    }

    /// libvirt calls in flight per connection: one more than actions may use, so observing a
    /// host never queues behind its actions and uploads.
    public var lanes: Int { parallel + 1 }
}

/// The slots every action takes before it touches a host: one pool for the whole process (every
/// executor, every VM set, every worker), so `maxParallel` and `maxTransfers` hold per host,
/// and a global limit holds over the fleet.
public final class HostSlots: Sendable {
    private struct Pools {
        var limits: HostLimits
        var parallel: AsyncSemaphore
        var transfers: AsyncSemaphore
    }

    private let global: AsyncSemaphore
    private let pools = Mutex([String: Pools]())

    public init(global: Int) {
        self.global = AsyncSemaphore(permits: global)
    }

    /// Sets each host's limits; a host whose limits changed gets new pools (actions holding the
    /// old ones finish under the old limits).
    public func update(_ hosts: [Host]) {
        pools.withLock { pools in
            for host in hosts {
                let limits = HostLimits(host)
                if pools[host.metadata.name]?.limits == limits { continue }
                pools[host.metadata.name] = Pools(limits: limits, parallel: AsyncSemaphore(permits: limits.parallel),
                                                  transfers: AsyncSemaphore(permits: limits.transfers))
            }
        }
    }

    /// Runs `body` holding a global slot and one of `host`'s slots (and a transfer slot for an
    /// upload), taken in that order so that no two holders can wait on each other.
    public func withSlot<T>(host: String, transfer: Bool, _ body: () async throws -> T) async rethrows -> T {
        let pool = pools.withLock { pools in
            if let pool = pools[host] { return pool }
            // A host never configured gets the manifest's defaults.
            let limits = HostLimits(Host(metadata: ObjectMeta(name: host), spec: HostSpec(uri: "")))
            let pool = Pools(limits: limits, parallel: AsyncSemaphore(permits: limits.parallel),
                             transfers: AsyncSemaphore(permits: limits.transfers))
            pools[host] = pool
            return pool
        }
        return try await global.withPermit {
            try await pool.parallel.withPermit {
                transfer ? try await pool.transfers.withPermit(body) : try await body()
            }
        }
    }
}

/// At most one run of a job per key at a time: whoever asks while one runs waits for it and
/// shares its outcome. Template copies use it per (host, digest), so any number of sets needing
/// one template on one host cause one upload, and no worker deletes a copy another is making.
public final class SingleFlight<Key: Hashable & Sendable>: Sendable {
    private let flights = Mutex([Key: Task<Void, any Error>]())

    public init() {}

    /// Runs `job`, or joins the run of it already under way; returns true when it joined.
    @discardableResult
    public func run(_ key: Key, _ job: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        let (task, leader) = flights.withLock { flights -> (Task<Void, any Error>, Bool) in
            if let running = flights[key] { return (running, false) }
            let task = Task { try await job() }
            flights[key] = task
            return (task, true)
        }
        defer {
            if leader { flights.withLock { _ = $0.removeValue(forKey: key) } }
        }
        try await task.value
        return !leader
    }
}
