import DroveManifest
import Synchronization

/// A committed write, as a watcher sees it. It says what changed; a watcher that needs the
/// whole object or status reads it again (level-triggered).
public enum StoreChange: Sendable, Hashable {
    /// Created or configured (an unchanged apply sends nothing).
    case objectApplied(ObjectReference, generation: Int)
    case objectDeletionRequested(ObjectReference)
    /// Removed by `markPruned`.
    case objectPruned(ObjectReference)
    case statusChanged(ObjectReference)
    case eventAppended(Event)
}

extension Store {
    /// A stream of the changes committed from now on, in commit order.
    ///
    /// On SQLite it sees the writes made through this `Store` object only (one controller per
    /// file). On PostgreSQL it sees every replica's writes, in the one order they committed;
    /// another replica's write that committed just before the call may be in it too.
    /// It ends when the store closes, or when the watcher falls more than
    /// `StoreOptions.changeBufferSize` changes behind (on PostgreSQL also when this replica
    /// lost sight of the database's changes for longer than they are kept): it then gets the
    /// buffered changes and the end, and should read the state again (events: after the last
    /// id it saw) and subscribe anew, rather than have changes silently dropped.
    public func changes() -> AsyncStream<StoreChange> {
        engine.changes()
    }
}

/// The watchers of one store, fed by its engine in commit order.
final class ChangeHub: Sendable {
    private struct State {
        var next = 0
        var watchers: [Int: AsyncStream<StoreChange>.Continuation] = [:]
        var finished = false
    }

    private let state = Mutex(State())
    private let bufferSize: Int

    init(bufferSize: Int) {
        self.bufferSize = max(1, bufferSize)
    }

    func subscribe() -> AsyncStream<StoreChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: StoreChange.self, bufferingPolicy: .bufferingOldest(bufferSize))
        let id: Int? = state.withLock { state in
            guard !state.finished else { return nil }
            defer { state.next += 1 }
            state.watchers[state.next] = continuation
            return state.next
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        return stream
    }

    func yield(_ changes: [StoreChange]) {
        // Yield outside the lock: finishing a lagging watcher runs its onTermination, which
        // takes the lock again.
        let watchers = state.withLock { $0.watchers }
        var lagging: [AsyncStream<StoreChange>.Continuation] = []
        for (_, watcher) in watchers {
            for change in changes {
                if case .dropped = watcher.yield(change) {
                    lagging.append(watcher)
                    break
                }
            }
        }
        for watcher in lagging { watcher.finish() }
    }

    /// Ends every stream open now; later subscriptions work (their owners read the state
    /// again, as after falling behind).
    func endStreams() {
        let watchers = state.withLock { state in
            defer { state.watchers = [:] }
            return state.watchers
        }
        for (_, watcher) in watchers { watcher.finish() }
    }

    func finishAll() {
        let watchers = state.withLock { state in
            state.finished = true
            defer { state.watchers = [:] }
            return state.watchers
        }
        for (_, watcher) in watchers { watcher.finish() }
    }
}
