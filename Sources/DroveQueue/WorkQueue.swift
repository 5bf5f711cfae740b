/// A level-triggered queue of keys for a controller's workers, after client-go's `workqueue`.
///
/// A key says only *which* object to look at; what to do is read afresh by whoever processes it.
/// So the queue collapses repeats and never lets two workers hold one key:
///
/// - ``add(_:)`` of a key already waiting does nothing: the key is processed once.
/// - ``add(_:)`` of a key being processed marks it dirty; ``done(_:)`` puts it back in the queue,
///   once, however many times it was added meanwhile. Until then ``next()`` never hands it out.
/// - ``addAfter(_:_:)`` adds a key when a delay has passed on the queue's ``QueueClock``;
///   ``addRateLimited(_:)`` does so after the key's backoff (see ``RetryPolicy``), and
///   ``forget(_:)`` resets that backoff after a success.
///
/// Every key handed out by ``next()`` must be given back with ``done(_:)``.
///
/// ## Shutting down
/// After ``shutDown()`` the queue drains: ``next()`` keeps handing out the keys that were
/// already waiting (and keys that were re-added while being processed, once they are done), and
/// returns nil once none is left; workers waiting in ``next()`` at that moment get nil at once.
/// Keys waiting for a delay are dropped, and adds of every kind are ignored. A controller loses
/// nothing by this: it is level-triggered and rebuilds its work from the observed state when it
/// starts again. To stop without draining, cancel the workers' task: ``next()`` returns nil in a
/// cancelled task.
///
/// ## Time
/// Delays are measured on the queue's clock. A key whose delay has passed counts as waiting as
/// soon as anyone looks — ``next()``, ``depth`` and ``delayedCount`` all move due keys into the
/// queue first — and one internal timer task, sleeping on the clock until the earliest deadline,
/// wakes workers that are waiting. That task is cancelled by ``shutDown()`` or when the queue is
/// released, and holds no reference to the queue while it sleeps.
public actor WorkQueue<Key: Hashable & Sendable> {
    public let clock: any QueueClock

    // The queue proper: keys waiting to be processed, in order. Each is also in `dirty`.
    private var ready = FIFO<Key>()
    /// Keys that need processing: every waiting key, and every key re-added while processing.
    private var dirty: Set<Key> = []
    /// Keys handed out by `next()` and not yet `done`.
    private var processing: Set<Key> = []
    /// Calls of `next()` waiting for a key, oldest first. Exists only while `ready` is empty.
    private var waiters: [Waiter<Key>] = []
    private var shuttingDown = false

    // Delayed adds: each key's earliest deadline, and a heap of deadlines. A key given an earlier
    // deadline leaves its old heap entry behind; entries whose sequence no longer matches
    // `delayed` are stale and skipped.
    private struct Timer: Comparable {
        var deadline: QueueInstant
        var sequence: UInt64
        var key: Key
        static func < (lhs: Timer, rhs: Timer) -> Bool { (lhs.deadline, lhs.sequence) < (rhs.deadline, rhs.sequence) }
        static func == (lhs: Timer, rhs: Timer) -> Bool { lhs.sequence == rhs.sequence }
    }
    private var delayed: [Key: (deadline: QueueInstant, sequence: UInt64)] = [:]
    private var timers = MinHeap<Timer>()
    private var sequence: UInt64 = 0

    /// The one task sleeping until the earliest deadline, and that deadline.
    private var timerTask: Task<Void, Never>?
    private var timerDeadline: QueueInstant?
    private var timerGeneration: UInt64 = 0

    // Rate limiting of retries.
    private let retryPolicy: RetryPolicy
    private var failures: [Key: Int] = [:]
    private var retryBucket: TokenBucket

    /// A queue timing its delays on `clock` and delaying retries by `retryPolicy`.
    public init(clock: any QueueClock = ContinuousQueueClock(), retryPolicy: RetryPolicy = .default) {
        self.clock = clock
        self.retryPolicy = retryPolicy
        self.retryBucket = retryPolicy.overall
    }

    deinit {
        timerTask?.cancel()
    }

    // MARK: Adding

    /// Queues `key` to be processed; see the type's documentation for repeats. Ignored after
    /// ``shutDown()``.
    public func add(_ key: Key) {
        guard !shuttingDown else { return }
        enqueue(key)
    }

    /// Queues `key` once `delay` has passed on the queue's clock (at once when `delay` is not
    /// positive). A key already waiting for an earlier deadline keeps it; an earlier deadline
    /// replaces a later one. Ignored after ``shutDown()``.
    public func addAfter(_ key: Key, _ delay: Duration) {
        guard !shuttingDown else { return }
        guard delay > .zero else { return enqueue(key) }
        let deadline = clock.now + delay
        if let existing = delayed[key], existing.deadline <= deadline { return }
        sequence &+= 1
        delayed[key] = (deadline, sequence)
        timers.insert(Timer(deadline: deadline, sequence: sequence, key: key))
        armTimer()
    }

    /// Queues `key` after its retry delay: the longer of its own exponential backoff (one more
    /// failure counted, see ``numRequeues(_:)``) and the wait for a token of the retry bucket
    /// shared by all keys. Returns that delay. Ignored (returning zero, counting nothing) after
    /// ``shutDown()``.
    @discardableResult
    public func addRateLimited(_ key: Key) -> Duration {
        guard !shuttingDown else { return .zero }
        let attempt = failures[key, default: 0]
        failures[key] = attempt + 1
        let delay = max(retryPolicy.perKey.delay(attempt: attempt), retryBucket.reserve(at: clock.now))
        addAfter(key, delay)
        return delay
    }

    /// Resets `key`'s backoff, after it was processed successfully. It does not give back tokens
    /// of the shared retry bucket, nor cancel a pending delayed add.
    public func forget(_ key: Key) {
        failures[key] = nil
    }

    /// How many times `key` was retried with ``addRateLimited(_:)`` since it was last forgotten.
    public func numRequeues(_ key: Key) -> Int {
        failures[key, default: 0]
    }

    // MARK: Processing

    /// The next key to process, marked as being processed until ``done(_:)``; waits for one.
    ///
    /// Returns nil when the queue has been shut down and nothing is left to drain (at once for
    /// a caller that was waiting at the moment of ``shutDown()``), and when the calling task is
    /// cancelled (before or while waiting).
    public func next() async -> Key? {
        guard !Task.isCancelled else { return nil }
        promoteDueKeys()
        if let key = takeReady() { return key }
        guard !shuttingDown else { return nil }
        waiters.removeAll { $0.isSettled }  // callers that were cancelled
        let waiter = Waiter<Key>()
        waiters.append(waiter)
        return await withTaskCancellationHandler {
            await waiter.wait()
        } onCancel: {
            _ = waiter.deliver(nil)
        }
    }

    /// Marks `key`, handed out by ``next()``, as processed. If it was added again meanwhile it
    /// goes back in the queue, once. A key that is not being processed is ignored.
    public func done(_ key: Key) {
        guard processing.remove(key) != nil else { return }
        if dirty.contains(key) {
            ready.append(key)
            dispatch()
        }
    }

    /// Stops the queue; see "Shutting down" in the type's documentation. Calling it again does
    /// nothing.
    public func shutDown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        timerTask?.cancel()
        timerTask = nil
        timerDeadline = nil
        delayed.removeAll()
        timers.removeAll()
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { _ = waiter.deliver(nil) }
    }

    // MARK: Metrics

    /// How many keys are waiting to be processed (not counting keys waiting for a delay, nor
    /// keys being processed).
    public var depth: Int {
        promoteDueKeys()
        return ready.count
    }

    /// How many keys are waiting for a delay to pass.
    public var delayedCount: Int {
        promoteDueKeys()
        return delayed.count
    }

    /// How many keys are being processed (handed out by ``next()`` and not yet done).
    public var processingCount: Int { processing.count }

    public var isShuttingDown: Bool { shuttingDown }

    /// How many callers of ``next()`` are waiting for a key (for tests).
    var waiterCount: Int { waiters.count { !$0.isSettled } }

    // MARK: Internals

    private func enqueue(_ key: Key) {
        guard dirty.insert(key).inserted else { return }  // already waiting, or already re-added
        guard !processing.contains(key) else { return }   // re-queued by `done`
        ready.append(key)
        dispatch()
    }

    private func takeReady() -> Key? {
        guard let key = ready.popFirst() else { return nil }
        dirty.remove(key)
        processing.insert(key)
        return key
    }

    /// Hands waiting keys to waiting callers of `next()`.
    private func dispatch() {
        while !waiters.isEmpty, let key = ready.first {
            let waiter = waiters.removeFirst()
            if waiter.deliver(key) {
                _ = takeReady()
            }
        }
    }

    /// Moves every key whose delay has passed into the queue.
    private func promoteDueKeys() {
        guard !timers.isEmpty else { return }
        let now = clock.now
        while let timer = timers.min, timer.deadline <= now {
            _ = timers.popMin()
            guard delayed[timer.key]?.sequence == timer.sequence else { continue }  // stale
            delayed[timer.key] = nil
            enqueue(timer.key)
        }
    }

    /// Makes sure the timer task sleeps until the earliest deadline, if there is one.
    private func armTimer() {
        while let timer = timers.min, delayed[timer.key]?.sequence != timer.sequence {
            _ = timers.popMin()
        }
        guard let earliest = timers.min?.deadline, !shuttingDown else { return }
        if timerTask != nil, let armed = timerDeadline, armed <= earliest { return }
        timerTask?.cancel()
        timerGeneration &+= 1
        let generation = timerGeneration
        timerDeadline = earliest
        let clock = self.clock
        timerTask = Task { [weak self] in
            do { try await clock.sleep(until: earliest) } catch { return }
            await self?.timerFired(generation: generation)
        }
    }

    private func timerFired(generation: UInt64) {
        if generation == timerGeneration {
            timerTask = nil
            timerDeadline = nil
        }
        promoteDueKeys()
        armTimer()
    }
}
