import DroveManifest
import GRDB
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
    /// A stream of the changes this `Store` commits, from now on, in commit order.
    ///
    /// It sees writes made through this `Store` object only (not other processes, nor another
    /// `Store` opened on the same file). It ends when the store closes, or when the watcher
    /// falls more than `StoreOptions.changeBufferSize` changes behind: it then gets the
    /// buffered changes and the end, and should read the state again (events: after the last
    /// id it saw) and subscribe anew, rather than have changes silently dropped.
    public func changes() -> AsyncStream<StoreChange> {
        hub.subscribe()
    }
}

/// The watchers of one store. Changes are published from GRDB's writer queue, in a commit hook,
/// so they go out in commit order and only for committed transactions.
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

    /// Publishes `changes` when the current transaction of `db` commits; nothing if it rolls back.
    func publish(_ changes: [StoreChange], after db: Database) {
        guard !changes.isEmpty else { return }
        db.afterNextTransaction { [self] _ in yield(changes) }
    }

    private func yield(_ changes: [StoreChange]) {
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

    func finishAll() {
        let watchers = state.withLock { state in
            state.finished = true
            defer { state.watchers = [:] }
            return state.watchers
        }
        for (_, watcher) in watchers { watcher.finish() }
    }
}
