import Synchronization

/// A point in time on a ``QueueClock``, measured from that clock's own origin.
///
/// Instants of different clocks are not comparable in any meaningful way, exactly as with the
/// standard library's clocks; a queue only ever compares instants of its own clock.
public struct QueueInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// The time elapsed since the clock's origin.
    public var sinceOrigin: Duration

    public init(sinceOrigin: Duration) { self.sinceOrigin = sinceOrigin }

    /// The clock's origin.
    public static let origin = QueueInstant(sinceOrigin: .zero)

    public func advanced(by duration: Duration) -> QueueInstant {
        QueueInstant(sinceOrigin: sinceOrigin + duration)
    }

    /// The duration from this instant to `other` (negative when `other` is earlier).
    public func duration(to other: QueueInstant) -> Duration { other.sinceOrigin - sinceOrigin }

    public static func + (lhs: QueueInstant, rhs: Duration) -> QueueInstant { lhs.advanced(by: rhs) }
    public static func - (lhs: QueueInstant, rhs: QueueInstant) -> Duration { rhs.duration(to: lhs) }
    public static func < (lhs: QueueInstant, rhs: QueueInstant) -> Bool { lhs.sinceOrigin < rhs.sinceOrigin }

    public var description: String { "t+\(sinceOrigin)" }
}

/// The clock the work queue and the timing helpers read and sleep on.
///
/// It is deliberately smaller than the standard library's `Clock` (and named apart from it, so
/// importing this module never shadows `Swift.Clock`): the queue needs to read the time and to
/// sleep until a deadline, nothing more. ``ContinuousQueueClock`` is the real one;
/// ``ManualClock`` is moved by hand in tests, so no test sleeps for real.
public protocol QueueClock: Sendable {
    /// The current instant.
    var now: QueueInstant { get }

    /// Suspends until `deadline` has been reached; returns at once when it already has.
    ///
    /// - Throws: `CancellationError` when the calling task is cancelled before the deadline.
    func sleep(until deadline: QueueInstant) async throws
}

/// The real clock: `ContinuousClock` (monotonic, keeps counting while the machine sleeps), with
/// its origin at the moment this value was made.
public struct ContinuousQueueClock: QueueClock {
    private let origin: ContinuousClock.Instant

    public init() { origin = ContinuousClock.now }

    public var now: QueueInstant { QueueInstant(sinceOrigin: origin.duration(to: ContinuousClock.now)) }

    public func sleep(until deadline: QueueInstant) async throws {
        try await ContinuousClock().sleep(until: origin.advanced(by: deadline.sinceOrigin), tolerance: nil)
    }
}

/// A clock that only moves when told to, for tests.
///
/// `sleep(until:)` suspends until ``advance(by:)`` or ``advance(to:)`` reaches the deadline (or
/// returns at once if it already has), and throws `CancellationError` promptly when the sleeping
/// task is cancelled. Sleepers are woken in deadline order.
public final class ManualClock: QueueClock {
    private enum Entry {
        /// `sleep(until:)` has begun but has not stored its continuation yet.
        case pending
        /// Cancelled while pending: the sleep throws as soon as it would store its continuation.
        case cancelledEarly
        case sleeping(deadline: QueueInstant, continuation: CheckedContinuation<Void, any Error>)
    }

    private struct State {
        var now: QueueInstant
        var nextID: UInt64 = 0
        /// Every sleep that has begun and not yet ended, by id.
        var entries: [UInt64: Entry] = [:]
    }

    private let state: Mutex<State>

    public init(now: QueueInstant = .origin) { state = Mutex(State(now: now)) }

    public var now: QueueInstant { state.withLock { $0.now } }

    /// How many tasks are asleep on this clock right now.
    public var sleeperCount: Int { state.withLock { $0.entries.values.count { if case .sleeping = $0 { true } else { false } } } }

    /// The earliest deadline anyone is asleep until, if anyone is.
    public var nextDeadline: QueueInstant? {
        state.withLock { state in
            state.entries.values.compactMap { entry -> QueueInstant? in
                if case .sleeping(let deadline, _) = entry { deadline } else { nil }
            }.min()
        }
    }

    /// Moves the clock forward by `duration` and wakes every sleeper whose deadline it reaches.
    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "a clock cannot go backwards")
        let due = state.withLock { state in
            state.now = state.now + duration
            return Self.takeDue(&state)
        }
        for continuation in due { continuation.resume() }
    }

    /// Moves the clock to `instant` (it never goes backwards: an earlier instant leaves it where
    /// it is) and wakes every sleeper whose deadline it reaches.
    public func advance(to instant: QueueInstant) {
        let due = state.withLock { state in
            state.now = max(state.now, instant)
            return Self.takeDue(&state)
        }
        for continuation in due { continuation.resume() }
    }

    /// Removes the sleepers whose deadline has come, earliest first.
    private static func takeDue(_ state: inout State) -> [CheckedContinuation<Void, any Error>] {
        var due: [(id: UInt64, deadline: QueueInstant, continuation: CheckedContinuation<Void, any Error>)] = []
        for (id, entry) in state.entries {
            if case .sleeping(let deadline, let continuation) = entry, deadline <= state.now {
                due.append((id, deadline, continuation))
            }
        }
        due.sort { ($0.deadline, $0.id) < ($1.deadline, $1.id) }
        for sleeper in due { state.entries[sleeper.id] = nil }
        return due.map(\.continuation)
    }

    public func sleep(until deadline: QueueInstant) async throws {
        let id = state.withLock { state -> UInt64 in
            let id = state.nextID
            state.nextID += 1
            state.entries[id] = .pending
            return id
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case wait, wake, cancelled }
                let outcome: Outcome = state.withLock { state in
                    if case .cancelledEarly = state.entries[id] {
                        state.entries[id] = nil
                        return .cancelled
                    }
                    if deadline <= state.now {
                        state.entries[id] = nil
                        return .wake
                    }
                    state.entries[id] = .sleeping(deadline: deadline, continuation: continuation)
                    return .wait
                }
                switch outcome {
                case .wait: break
                case .wake: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Void, any Error>? = state.withLock { state in
                switch state.entries[id] {
                case .pending:
                    state.entries[id] = .cancelledEarly
                    return nil
                case .sleeping(_, let continuation):
                    state.entries[id] = nil
                    return continuation
                case .cancelledEarly, nil:
                    return nil  // already cancelled, or already woken
                }
            }
            continuation?.resume(throwing: CancellationError())
        }
    }
}
