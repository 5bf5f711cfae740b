import Testing
@testable import DroveQueue

@Suite struct BackoffTests {
    @Test func doublesFromTheInitialDelayUpToTheMaximum() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        let delays = (0..<7).map { backoff.delay(attempt: $0) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                           .seconds(1), .seconds(1), .seconds(1)])
    }

    @Test func aFractionalMultiplierGrowsByThatFactor() {
        let backoff = Backoff(initial: .milliseconds(100), multiplier: 1.5, maximum: .seconds(60))
        #expect(backoff.delay(attempt: 1) == .milliseconds(150))
        #expect(backoff.delay(attempt: 2) == .milliseconds(225))
        #expect(backoff.delay(attempt: 1_000) == .seconds(60))
    }

    @Test func hugeAttemptCountsStayAtTheCapWithoutOverflowing() {
        let backoff = Backoff(initial: .nanoseconds(1), maximum: .seconds(86_400 * 365 * 100))
        #expect(backoff.delay(attempt: 200) == .seconds(86_400 * 365 * 100))
        #expect(backoff.delay(attempt: .max) == .seconds(86_400 * 365 * 100))
    }

    @Test func nextCountsFailuresAndResetStartsOver() {
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(8))
        var generator = SeededRandomNumberGenerator(seed: 1)
        let delays = (0..<5).map { _ in backoff.next(using: &generator) }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8)])
        #expect(backoff.attempt == 5)
        backoff.reset()
        #expect(backoff.attempt == 0)
        #expect(backoff.next(using: &generator) == .seconds(1))
    }

    @Test func jitterOnlyShortensADelayAndNeverPassesTheCap() {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(10), jitter: 0.25)
        var generator = SeededRandomNumberGenerator(seed: 42)
        for attempt in 0..<8 {
            let full = backoff.delay(attempt: attempt)
            let lowest = full - full * 0.25
            let draws = (0..<500).map { _ in backoff.jitteredDelay(attempt: attempt, using: &generator) }
            #expect(draws.allSatisfy { $0 >= lowest && $0 <= full && $0 <= .seconds(10) })
            #expect(Set(draws).count > 100, "attempt \(attempt): the delays are not spread")
        }
    }

    @Test func jitterIsDeterministicForASeed() {
        func draws(seed: UInt64) -> [Duration] {
            var backoff = Backoff(initial: .seconds(1), maximum: .seconds(30), jitter: 0.5)
            var generator = SeededRandomNumberGenerator(seed: seed)
            return (0..<10).map { _ in backoff.next(using: &generator) }
        }
        #expect(draws(seed: 9) == draws(seed: 9))
        #expect(draws(seed: 9) != draws(seed: 10))
    }
}

@Suite struct ResyncTests {
    @Test func delaysStayWithinTenPercentOfTheIntervalAndSpreadAcrossIt() {
        let schedule = ResyncSchedule(interval: .seconds(10))
        var generator = SeededRandomNumberGenerator(seed: 2024)
        let delays = (0..<10_000).map { _ in schedule.nextDelay(using: &generator) }
        #expect(delays.allSatisfy { $0 >= .seconds(9) && $0 <= .seconds(11) })
        // Spread over the whole band, both sides of the interval.
        #expect(delays.min()! < .milliseconds(9_100))
        #expect(delays.max()! > .milliseconds(10_900))
        #expect(delays.filter { $0 < .seconds(10) }.count > 4_000)
        #expect(delays.filter { $0 > .seconds(10) }.count > 4_000)
    }

    @Test func theScheduleIsDeterministicForASeed() {
        let schedule = ResyncSchedule(interval: .seconds(30), jitter: Jitter(fraction: 0.2))
        func instants(seed: UInt64) -> [QueueInstant] {
            var generator = SeededRandomNumberGenerator(seed: seed)
            var at = QueueInstant.origin
            return (0..<20).map { _ in
                at = schedule.next(after: at, using: &generator)
                return at
            }
        }
        let first = instants(seed: 5)
        #expect(first == instants(seed: 5))
        #expect(first != instants(seed: 6))
        #expect(first == first.sorted())
        // Twenty resyncs of 30 s ± 20% end within 20 × [24 s, 36 s].
        #expect(first.last! >= .origin + .seconds(480) && first.last! <= .origin + .seconds(720))
    }

    @Test func noJitterGivesTheIntervalExactly() {
        let schedule = ResyncSchedule(interval: .seconds(30), jitter: .none)
        var generator = SeededRandomNumberGenerator(seed: 3)
        #expect((0..<10).map { _ in schedule.nextDelay(using: &generator) } == Array(repeating: .seconds(30), count: 10))
    }

    @Test func fullJitterStaysWithinZeroAndTwiceTheInterval() {
        let jitter = Jitter(fraction: 1)
        var generator = SeededRandomNumberGenerator(seed: 11)
        let delays = (0..<1_000).map { _ in jitter.apply(to: .seconds(1), using: &generator) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .seconds(2) })
    }
}

@Suite(.timeLimit(.minutes(1)))
struct ManualClockTests {
    @Test func aSleeperWakesOnlyWhenTheClockReachesItsDeadline() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(until: .origin + .seconds(2)) }
        await eventually { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(1))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        #expect(clock.sleeperCount == 0)
        try await sleeper.value
        #expect(clock.now == .origin + .seconds(2))
    }

    @Test func sleepersWakeInDeadlineOrder() async {
        let clock = ManualClock()
        let order = Tracker()
        var sleepers: [Task<Void, any Error>] = []
        for (name, seconds) in [("c", 3), ("a", 1), ("b", 2)] {
            sleepers.append(Task {
                try await clock.sleep(until: .origin + .seconds(seconds))
                await order.noteAdd(name)
            })
        }
        await eventually { clock.sleeperCount == 3 }
        for seconds in 1...3 {
            clock.advance(to: .origin + .seconds(seconds))
            await eventually { await order.lastAdded.count == seconds }
        }
        let steps = await order.lastAdded
        #expect(steps["a"]! < steps["b"]! && steps["b"]! < steps["c"]!)
        for sleeper in sleepers { _ = try? await sleeper.value }
    }

    @Test func aDeadlineInThePastReturnsAtOnce() async throws {
        let clock = ManualClock(now: .origin + .seconds(5))
        try await clock.sleep(until: .origin + .seconds(5))
        try await clock.sleep(until: .origin)
        #expect(clock.sleeperCount == 0)
    }

    @Test func cancellingASleeperThrowsCancellationError() async {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(until: .origin + .seconds(60)) }
        await eventually { clock.sleeperCount == 1 }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test func aSleepStartedInACancelledTaskThrows() async {
        let clock = ManualClock()
        let sleeper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(until: .origin + .seconds(60))
        }
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test func theClockNeverGoesBackwards() {
        let clock = ManualClock(now: .origin + .seconds(10))
        clock.advance(to: .origin + .seconds(3))
        #expect(clock.now == .origin + .seconds(10))
    }

    @Test func theRealClockMovesForwardAndReturnsAtOnceForAPastDeadline() async throws {
        let clock = ContinuousQueueClock()
        // A sleep until a future deadline does not return before it, and the clock reads past it.
        let deadline = clock.now + .milliseconds(20)
        try await clock.sleep(until: deadline)
        #expect(clock.now >= deadline)
        // A deadline an hour past returns at once, not after an hour: bounded by 10 s.
        let returned = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await clock.sleep(until: QueueInstant(sinceOrigin: .seconds(-3600)))
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                return false
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        #expect(returned, "a sleep until a past deadline did not return within 10 s")
    }
}
