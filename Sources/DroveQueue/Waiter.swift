import Synchronization

/// One call to ``WorkQueue/next()`` waiting for a key.
///
/// The queue hands a key over with ``deliver(_:)``; the waiting task's cancellation handler
/// (which runs outside the queue's actor) delivers nil. Whichever comes first wins, and the
/// other learns it lost, so a key is never handed to a waiter that has already given up.
final class Waiter<Key: Sendable>: Sendable {
    private enum State {
        /// Not yet suspended (the continuation is not stored yet).
        case pending
        case waiting(CheckedContinuation<Key?, Never>)
        /// Delivered before the continuation was stored.
        case delivered(Key?)
        case finished
    }

    private let state = Mutex(State.pending)

    /// Whether this waiter has been given a key or nil already.
    var isSettled: Bool {
        state.withLock { state in
            switch state {
            case .pending, .waiting: false
            case .delivered, .finished: true
            }
        }
    }

    /// Suspends until ``deliver(_:)`` is called (or returns what it was already given).
    func wait() async -> Key? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Key?, Never>) in
            let early: Key?? = state.withLock { state in
                switch state {
                case .pending:
                    state = .waiting(continuation)
                    return .none
                case .delivered(let value):
                    state = .finished
                    return .some(value)
                case .waiting, .finished:
                    preconditionFailure("Waiter.wait() called twice")
                }
            }
            if let value = early { continuation.resume(returning: value) }
        }
    }

    /// Hands `value` to the waiting task; false (and nothing handed over) when it already has
    /// been given something.
    func deliver(_ value: Key?) -> Bool {
        let outcome: (delivered: Bool, resume: CheckedContinuation<Key?, Never>?) = state.withLock { state in
            switch state {
            case .pending:
                state = .delivered(value)
                return (true, nil)
            case .waiting(let continuation):
                state = .finished
                return (true, continuation)
            case .delivered, .finished:
                return (false, nil)
            }
        }
        outcome.resume?.resume(returning: value)
        return outcome.delivered
    }
}
