import Testing
@testable import DroveQueue

@Suite(.timeLimit(.minutes(1)))
struct WorkQueueTests {
    let clock: ManualClock
    let queue: WorkQueue<String>

    init() {
        clock = ManualClock()
        queue = WorkQueue(clock: clock)
    }

    // MARK: Collapsing and processing

    @Test func duplicatesCollapseIntoOneWaitingKey() async {
        await queue.add("a")
        await queue.add("b")
        await queue.add("a")
        await queue.add("a")
        #expect(await queue.depth == 2)
        #expect(await queue.nextWaiting() == "a")
        #expect(await queue.nextWaiting() == "b")
        #expect(await queue.depth == 0)
        await queue.shutDown()
        #expect(await queue.next() == nil)
    }

    @Test func keysComeOutInTheOrderTheyWereFirstAdded() async {
        for key in ["c", "a", "b", "a", "c"] { await queue.add(key) }
        var order: [String] = []
        while await queue.depth > 0, let key = await queue.next() { order.append(key) }
        #expect(order == ["c", "a", "b"])
    }

    @Test func aKeyAddedWhileProcessingIsNotHandedOutUntilDone() async {
        await queue.add("a")
        let first = await queue.nextWaiting()
        #expect(first == "a")
        #expect(await queue.processingCount == 1)

        // Re-added several times while a worker holds it: not waiting, not handed out.
        await queue.add("a")
        await queue.add("a")
        await queue.add("a")
        #expect(await queue.depth == 0)
        await queue.add("b")
        #expect(await queue.nextWaiting() == "b")  // another worker gets b, not a
        await queue.done("b")

        // Done: back in the queue exactly once.
        await queue.done("a")
        #expect(await queue.depth == 1)
        #expect(await queue.nextWaiting() == "a")
        await queue.done("a")
        #expect(await queue.depth == 0)
        #expect(await queue.processingCount == 0)
    }

    @Test func aKeyNotReAddedIsNotQueuedAgainByDone() async {
        await queue.add("a")
        _ = await queue.nextWaiting()
        await queue.done("a")
        #expect(await queue.depth == 0)
        await queue.done("a")  // not being processed: ignored
        #expect(await queue.depth == 0)
    }

    @Test func aWaitingWorkerIsWokenByAnAdd() async {
        let worker = Task { await queue.next() }
        await eventually { await queue.waiterCount == 1 }
        await queue.add("a")
        #expect(await worker.value == "a")
        #expect(await queue.processingCount == 1)
    }

    @Test func aCancelledWaiterGetsNilAndSwallowsNoKey() async {
        let worker = Task { await queue.next() }
        await eventually { await queue.waiterCount == 1 }
        worker.cancel()
        #expect(await worker.value == nil)
        await queue.add("a")
        #expect(await queue.depth == 1)
        #expect(await queue.next() == "a")
    }

    @Test func nextInACancelledTaskReturnsNilEvenWithKeysWaiting() async {
        await queue.add("a")
        let worker = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await queue.next()
        }
        #expect(await worker.value == nil)
        #expect(await queue.depth == 1)
    }

    // MARK: Shutting down

    @Test func shutDownDrainsWaitingKeysThenReturnsNilAndIgnoresAdds() async {
        await queue.add("a")
        await queue.add("b")
        await queue.shutDown()
        await queue.add("c")
        #expect(await queue.isShuttingDown)
        #expect(await queue.next() == "a")
        #expect(await queue.next() == "b")
        #expect(await queue.next() == nil)
    }

    @Test func shutDownWakesEveryWaitingWorkerWithNil() async {
        let workers = (0..<3).map { _ in Task { await queue.next() } }
        await eventually { await queue.waiterCount == 3 }
        await queue.shutDown()
        for worker in workers {
            #expect(await worker.value == nil)
        }
    }

    @Test func aKeyReAddedBeforeShutDownIsStillProcessedAfterDone() async {
        await queue.add("a")
        _ = await queue.nextWaiting()
        await queue.add("a")
        await queue.shutDown()
        #expect(await queue.next() == nil)  // nothing waiting yet
        await queue.done("a")
        #expect(await queue.next() == "a")
        await queue.done("a")
        #expect(await queue.next() == nil)
    }

    @Test func shutDownDropsDelayedKeys() async {
        await queue.addAfter("a", .seconds(1))
        await queue.shutDown()
        clock.advance(by: .seconds(1))
        #expect(await queue.delayedCount == 0)
        #expect(await queue.next() == nil)
        #expect(clock.sleeperCount == 0)  // the timer task stopped
    }

    // MARK: Delays

    @Test func releasingTheQueueStopsItsTimerTask() async {
        var released: WorkQueue<String>? = WorkQueue(clock: clock)
        await released?.addAfter("a", .seconds(60))
        await eventually { clock.sleeperCount == 1 }
        released = nil
        await eventually("the timer task outlived the queue") { clock.sleeperCount == 0 }
    }

    @Test func addAfterFiresOnlyOnceTheClockHasAdvancedFarEnough() async {
        await queue.addAfter("a", .seconds(1))
        #expect(await queue.depth == 0)
        #expect(await queue.delayedCount == 1)
        clock.advance(by: .milliseconds(999))
        #expect(await queue.depth == 0)
        clock.advance(by: .milliseconds(1))
        #expect(await queue.depth == 1)
        #expect(await queue.delayedCount == 0)
        #expect(await queue.nextWaiting() == "a")
    }

    @Test func addAfterWakesAWaitingWorkerWhenTheClockAdvances() async {
        let worker = Task { await queue.next() }
        await eventually { await queue.waiterCount == 1 }
        await queue.addAfter("a", .seconds(5))
        clock.advance(by: .seconds(5))
        #expect(await worker.value == "a")
    }

    @Test func anEarlierDeadlineRearmsTheTimerForAWaitingWorker() async {
        let worker = Task { await queue.next() }
        await eventually { await queue.waiterCount == 1 }
        await queue.addAfter("late", .seconds(10))
        await queue.addAfter("early", .seconds(1))
        await eventually { clock.nextDeadline == QueueInstant.origin + .seconds(1) }
        clock.advance(by: .seconds(1))
        #expect(await worker.value == "early")
        #expect(await queue.delayedCount == 1)
    }

    @Test func aKeyKeepsItsEarliestDeadlineAndFiresOnce() async {
        await queue.addAfter("a", .seconds(10))
        await queue.addAfter("a", .seconds(2))   // earlier: replaces
        await queue.addAfter("a", .seconds(5))   // later: ignored
        #expect(await queue.delayedCount == 1)
        clock.advance(by: .seconds(2))
        #expect(await queue.nextWaiting() == "a")
        await queue.done("a")
        clock.advance(by: .seconds(10))
        #expect(await queue.depth == 0)
        #expect(await queue.delayedCount == 0)
    }

    @Test func aDelayedKeyFiringWhileProcessingIsQueuedAfterDone() async {
        await queue.add("a")
        _ = await queue.nextWaiting()
        await queue.addAfter("a", .seconds(1))
        clock.advance(by: .seconds(1))
        #expect(await queue.depth == 0)
        await queue.done("a")
        #expect(await queue.nextWaiting() == "a")
    }

    @Test func aDelayedKeyAlreadyWaitingCollapses() async {
        await queue.add("a")
        await queue.addAfter("a", .seconds(1))
        clock.advance(by: .seconds(1))
        #expect(await queue.depth == 1)
    }

    @Test(arguments: [Duration.zero, .seconds(-1)])
    func addAfterWithoutAPositiveDelayAddsAtOnce(delay: Duration) async {
        await queue.addAfter("a", delay)
        #expect(await queue.depth == 1)
        #expect(await queue.delayedCount == 0)
    }

    @Test func delayedKeysFireInDeadlineOrder() async {
        await queue.addAfter("c", .seconds(3))
        await queue.addAfter("a", .seconds(1))
        await queue.addAfter("b", .seconds(2))
        clock.advance(by: .seconds(3))
        var order: [String] = []
        while await queue.depth > 0, let key = await queue.next() { order.append(key) }
        #expect(order == ["a", "b", "c"])
    }
}
