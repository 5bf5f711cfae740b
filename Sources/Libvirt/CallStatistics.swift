import Synchronization

/// Counts the libvirt calls this process makes, for the benchmark and for checking that a pass
/// over a converged fleet changes nothing.
///
/// Every call that runs on a connection's lane counts once (one lane call is one libvirt API
/// call, or one short burst of them such as an upload's stream). Calls that change a host
/// (define, undefine, start, destroy, shutdown, metadata, volume create/delete/upload, pool
/// lifecycle) are also counted by operation name. The counters are process-wide and cost one
/// atomic increment per call.
public enum CallStatistics {
    public struct Snapshot: Sendable, Equatable {
        /// Lane calls of every kind.
        public var calls: Int
        /// Calls that change a host, by libvirt operation (`virDomainCreate`, …).
        public var mutating: [String: Int]

        public var mutatingCalls: Int { mutating.values.reduce(0, +) }

        /// What happened between `earlier` and this snapshot.
        public func since(_ earlier: Snapshot) -> Snapshot {
            var delta: [String: Int] = [:]
            for (operation, count) in mutating where count != earlier.mutating[operation, default: 0] {
                delta[operation] = count - earlier.mutating[operation, default: 0]
            }
            return Snapshot(calls: calls - earlier.calls, mutating: delta)
        }
    }

    private static let calls = Atomic<Int>(0)
    private static let mutating = Mutex<[String: Int]>([:])
    private static let inFlight = Mutex<[String: (now: Int, peak: Int)]>([:])

    /// The most calls that changed the host at `uri` running at once since the last reset (the
    /// proof that a host's `maxParallel` holds across everything the process does).
    public static func peakMutatingInFlight(uri: String) -> Int {
        inFlight.withLock { $0[uri]?.peak ?? 0 }
    }

    /// Forgets every host's peak (not the counts).
    public static func resetPeaks() {
        inFlight.withLock { state in
            for key in state.keys { state[key]!.peak = state[key]!.now }
        }
    }

    static func beginMutating(on uri: String) {
        inFlight.withLock { state in
            var entry = state[uri] ?? (0, 0)
            entry.now += 1
            entry.peak = max(entry.peak, entry.now)
            state[uri] = entry
        }
    }

    static func endMutating(on uri: String) {
        inFlight.withLock { $0[uri]?.now -= 1 }
    }

    public static func snapshot() -> Snapshot {
        Snapshot(calls: calls.load(ordering: .relaxed), mutating: mutating.withLock { $0 })
    }

    /// Counts one lane call (see `Lane.run`).
    static func recordCall() {
        calls.add(1, ordering: .relaxed)
    }

    /// Marks the call about to run as one that changes the host.
    static func recordMutating(_ operation: String) {
        mutating.withLock { $0[operation, default: 0] += 1 }
    }
}
