import Logging
import Testing
@testable import DroveQueue

/// Records what workers do: which keys are in hand, overlaps, and a logical timeline.
actor Tracker {
    private(set) var active: Set<String> = []
    private(set) var overlaps: [String] = []
    private(set) var mostActiveAtOnce = 0
    private(set) var counts: [String: Int] = [:]
    /// Logical time: the step of each key's last add and last start of processing.
    private var step = 0
    private(set) var lastAdded: [String: Int] = [:]
    private(set) var lastStarted: [String: Int] = [:]

    private var barrierParties: Int
    private var barrierWaiters: [CheckedContinuation<Void, Never>] = []

    /// `barrier`: how many of the first reconciles wait for each other before going on, so
    /// that that many are certainly in flight together.
    init(barrier: Int = 0) { barrierParties = barrier }

    func noteAdd(_ key: String) {
        step += 1
        lastAdded[key] = step
    }

    func enter(_ key: String) {
        step += 1
        lastStarted[key] = step
        if !active.insert(key).inserted { overlaps.append(key) }
        mostActiveAtOnce = max(mostActiveAtOnce, active.count)
        counts[key, default: 0] += 1
    }

    func exit(_ key: String) { active.remove(key) }

    func barrier() async {
        guard barrierParties > 0 else { return }
        barrierParties -= 1
        if barrierParties == 0 {
            for waiter in barrierWaiters { waiter.resume() }
            barrierWaiters.removeAll()
        } else {
            await withCheckedContinuation { barrierWaiters.append($0) }
        }
    }

    func count(_ key: String) -> Int { counts[key, default: 0] }
}

/// A gate a reconcile waits at until the test opens it.
actor Gate {
    private var open = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private(set) var arrivals = 0

    func pass() async {
        arrivals += 1
        guard !open else { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func openUp() {
        open = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}

@Suite(.timeLimit(.minutes(1)))
struct WorkerTests {
    let clock = ManualClock()

    // MARK: Never one key twice at once

    @Test func severalWorkersNeverHoldOneKeyAtOnceAndEveryAddIsSeen() async {
        let queue = WorkQueue<String>(clock: clock)
        let tracker = Tracker(barrier: 2)
        let keys = (0..<6).map { "vm-\($0)" }
        for key in keys {
            await tracker.noteAdd(key)
            await queue.add(key)
        }
        let workers = Task {
            await runWorkers(queue: queue, count: 4, logger: .quiet) { key in
                await tracker.enter(key)
                await tracker.barrier()
                for _ in 0..<Int(key.utf8.last! % 5) { await Task.yield() }
                await tracker.exit(key)
                return .done
            }
        }
        var generator = SeededRandomNumberGenerator(seed: 7)
        for _ in 0..<600 {
            let key = keys.randomElement(using: &generator)!
            await tracker.noteAdd(key)
            await queue.add(key)
            if generator.next() % 4 == 0 { await Task.yield() }
        }
        await queue.shutDown()
        await workers.value

        #expect(await tracker.overlaps == [])
        #expect(await tracker.mostActiveAtOnce >= 2)  // the workers really ran side by side
        #expect(await tracker.active.isEmpty)
        // Level-triggered: every key was processed after it was last added.
        let added = await tracker.lastAdded, started = await tracker.lastStarted
        for key in keys {
            #expect(started[key, default: 0] > added[key, default: 0], "\(key) was not processed after its last add")
        }
    }

    @Test func aKeyReAddedWhileAWorkerHoldsItIsProcessedAgainExactlyOnce() async {
        let queue = WorkQueue<String>(clock: clock)
        let tracker = Tracker()
        let gate = Gate()
        await queue.add("a")
        let workers = Task {
            await runWorkers(queue: queue, count: 3, logger: .quiet) { key in
                await tracker.enter(key)
                if key == "a", await tracker.count("a") == 1 { await gate.pass() }
                await tracker.exit(key)
                return .done
            }
        }
        await eventually { await gate.arrivals == 1 }
        for _ in 0..<5 { await queue.add("a") }
        await queue.add("b")
        // Another worker takes b while a is held; none takes a.
        await eventually { await tracker.count("b") == 1 }
        #expect(await tracker.count("a") == 1)
        #expect(await queue.depth == 0)

        await queue.shutDown()  // drains: the re-added a still runs
        await gate.openUp()
        await workers.value

        #expect(await tracker.count("a") == 2)
        #expect(await tracker.count("b") == 1)
        #expect(await tracker.overlaps == [])
    }

    // MARK: Results

    @Test func doneForgetsTheKeysBackoff() async {
        let queue = WorkQueue<String>(clock: clock)
        await queue.addRateLimited("a")
        await queue.addRateLimited("a")
        await queue.add("a")
        #expect(await processNextKey(queue: queue, logger: .quiet) { _ in .done })
        #expect(await queue.numRequeues("a") == 0)
        #expect(await queue.processingCount == 0)
    }

    @Test func requeueAfterForgetsTheBackoffAndAddsTheKeyAfterTheDelay() async {
        let queue = WorkQueue<String>(clock: clock)
        await queue.addRateLimited("a")
        clock.advance(by: .milliseconds(200))
        #expect(await processNextKey(queue: queue, logger: .quiet) { _ in .requeueAfter(.seconds(30)) })
        #expect(await queue.numRequeues("a") == 0)
        #expect(await queue.delayedCount == 1)
        clock.advance(by: .seconds(29))
        #expect(await queue.depth == 0)
        clock.advance(by: .seconds(1))
        #expect(await queue.depth == 1)
    }

    @Test func aRetryIsRateLimitedAndLogged() async {
        let queue = WorkQueue<String>(clock: clock)
        let log = LogRecorder()
        await queue.add("a")
        #expect(await processNextKey(queue: queue, logger: log.logger) { _ in .retry(Failure("host down")) })
        #expect(await queue.numRequeues("a") == 1)
        #expect(await queue.delayedCount == 1)
        #expect(await queue.processingCount == 0)
        clock.advance(by: .milliseconds(200))
        #expect(await queue.depth == 1)

        let entry = log.entries.last
        #expect(entry?.level == .warning)
        #expect(entry?.metadata["queue.key"] == "a")
        #expect(entry?.metadata["error"] == "host down")
        #expect(entry?.metadata["retry.attempt"] == "1")
    }

    @Test func aThrownErrorIsRetriedLikeARetryResult() async {
        let queue = WorkQueue<String>(clock: clock)
        await queue.add("a")
        #expect(await processNextKey(queue: queue, logger: .quiet) { _ in throw Failure("boom") })
        #expect(await queue.numRequeues("a") == 1)
        #expect(await queue.delayedCount == 1)
    }

    @Test(arguments: [true, false])
    func aTerminalErrorIsNotRetried(thrown: Bool) async {
        let queue = WorkQueue<String>(clock: clock)
        let log = LogRecorder()
        await queue.addRateLimited("a")  // an earlier failure, to see it forgotten
        clock.advance(by: .milliseconds(200))
        #expect(await processNextKey(queue: queue, logger: log.logger) { _ in
            let error = TerminalError("template alpine does not exist")
            if thrown { throw error }
            return .retry(error)
        })
        #expect(await queue.numRequeues("a") == 0)
        #expect(await queue.delayedCount == 0)
        clock.advance(by: .seconds(3_600))
        #expect(await queue.depth == 0)
        #expect(await queue.processingCount == 0)

        let entry = log.entries.last
        #expect(entry?.level == .error)
        #expect(entry?.metadata["queue.key"] == "a")
        #expect(entry?.metadata["error"] == "template alpine does not exist")
    }

    @Test func processNextKeyReportsAShutDownQueue() async {
        let queue = WorkQueue<String>(clock: clock)
        await queue.shutDown()
        #expect(await processNextKey(queue: queue, logger: .quiet) { _ in
            Issue.record("reconcile called on an empty, shut-down queue")
            return .done
        } == false)
    }

    // MARK: Running and stopping

    @Test func workersRetryWithBackoffUntilTheReconcileSucceeds() async {
        let queue = WorkQueue<String>(clock: clock)
        let tracker = Tracker()
        let workers = Task {
            await runWorkers(queue: queue, count: 2, logger: .quiet) { key in
                await tracker.enter(key)
                await tracker.exit(key)
                return await tracker.count(key) < 3 ? .retry(Failure("not yet")) : .done
            }
        }
        await queue.add("a")
        await eventually { await queue.numRequeues("a") == 1 }
        #expect(await queue.delayedCount == 1)
        clock.advance(by: .milliseconds(200))
        await eventually { await queue.numRequeues("a") == 2 }
        clock.advance(by: .milliseconds(399))
        #expect(await queue.delayedCount == 1)  // the second retry waits 400 ms
        #expect(await queue.depth == 0)
        clock.advance(by: .milliseconds(1))
        await eventually { await tracker.count("a") == 3 }
        await eventually { await queue.numRequeues("a") == 0 }
        await queue.shutDown()
        await workers.value
        #expect(await tracker.count("a") == 3)
        #expect(await tracker.overlaps == [])
    }

    @Test func workersStopWhenTheQueueShutsDown() async {
        let queue = WorkQueue<String>(clock: clock)
        let workers = Task {
            await runWorkers(queue: queue, count: 3, logger: .quiet) { _ in
                Issue.record("reconcile called on an empty queue")
                return .done
            }
        }
        await eventually { await queue.waiterCount == 3 }
        await queue.shutDown()
        await workers.value
        #expect(await queue.waiterCount == 0)
    }

    @Test func workersStopWhenTheirTaskIsCancelled() async {
        let queue = WorkQueue<String>(clock: clock)
        let workers = Task {
            await runWorkers(queue: queue, count: 2, logger: .quiet) { _ in .done }
        }
        await eventually { await queue.waiterCount == 2 }
        workers.cancel()
        await workers.value
        #expect(await queue.isShuttingDown == false)
        await queue.add("a")
        #expect(await queue.depth == 1)  // no worker is left to take it
    }
}
