import Testing
@testable import DroveQueue

@Suite(.timeLimit(.minutes(1)))
struct RetryTests {
    let clock = ManualClock()

    /// A policy whose shared bucket never gets in the way of the per-key backoff.
    static let perKeyOnly = RetryPolicy(
        perKey: Backoff(initial: .milliseconds(200), maximum: .seconds(1)),
        overall: TokenBucket(perSecond: 1000, burst: 1000))

    @Test func backoffDoublesPerFailureAndCaps() async {
        let queue = WorkQueue<String>(clock: clock, retryPolicy: Self.perKeyOnly)
        var delays: [Duration] = []
        for _ in 0..<6 { delays.append(await queue.addRateLimited("a")) }
        #expect(delays == [.milliseconds(200), .milliseconds(400), .milliseconds(800),
                           .seconds(1), .seconds(1), .seconds(1)])
        #expect(await queue.numRequeues("a") == 6)
    }

    @Test func aRetryWaitsForItsBackoffOnTheClock() async {
        let queue = WorkQueue<String>(clock: clock, retryPolicy: Self.perKeyOnly)
        await queue.addRateLimited("a")
        #expect(await queue.delayedCount == 1)
        clock.advance(by: .milliseconds(199))
        #expect(await queue.depth == 0)
        clock.advance(by: .milliseconds(1))
        #expect(await queue.depth == 1)
    }

    @Test func forgetResetsTheBackoff() async {
        let queue = WorkQueue<String>(clock: clock, retryPolicy: Self.perKeyOnly)
        for _ in 0..<3 { await queue.addRateLimited("a") }
        #expect(await queue.numRequeues("a") == 3)
        await queue.forget("a")
        #expect(await queue.numRequeues("a") == 0)
        #expect(await queue.addRateLimited("a") == .milliseconds(200))
    }

    @Test func keysBackOffIndependently() async {
        let queue = WorkQueue<String>(clock: clock, retryPolicy: Self.perKeyOnly)
        for _ in 0..<3 { await queue.addRateLimited("a") }
        #expect(await queue.addRateLimited("b") == .milliseconds(200))
        #expect(await queue.numRequeues("b") == 1)
        #expect(await queue.numRequeues("a") == 3)
    }

    @Test func theOverallLimiterDelaysTheRetryAfterTheBurst() async {
        // Per-key backoff of 1 ms; the bucket allows 3 at once, then one a second.
        let policy = RetryPolicy(perKey: Backoff(initial: .milliseconds(1), maximum: .milliseconds(1)),
                                 overall: TokenBucket(perSecond: 1, burst: 3))
        let queue = WorkQueue<String>(clock: clock, retryPolicy: policy)
        var delays: [Duration] = []
        for key in ["k0", "k1", "k2", "k3", "k4"] { delays.append(await queue.addRateLimited(key)) }
        #expect(delays == [.milliseconds(1), .milliseconds(1), .milliseconds(1), .seconds(1), .seconds(2)])

        clock.advance(by: .milliseconds(1))
        #expect(await queue.depth == 3)
        clock.advance(to: .origin + .milliseconds(999))
        #expect(await queue.depth == 3)
        clock.advance(to: .origin + .seconds(1))
        #expect(await queue.depth == 4)
        clock.advance(to: .origin + .seconds(2))
        #expect(await queue.depth == 5)

        // Idle long enough, the bucket is full again.
        clock.advance(to: .origin + .seconds(10))
        for key in ["k5", "k6", "k7"] { #expect(await queue.addRateLimited(key) == .milliseconds(1)) }
        #expect(await queue.addRateLimited("k8") == .seconds(1))
    }

    @Test func addRateLimitedAfterShutDownIsIgnored() async {
        let queue = WorkQueue<String>(clock: clock)
        await queue.shutDown()
        #expect(await queue.addRateLimited("a") == .zero)
        #expect(await queue.numRequeues("a") == 0)
        #expect(await queue.delayedCount == 0)
    }

    @Test func theDefaultPolicyIs200MillisecondsDoublingTo5MinutesAnd10ASecondAfter100() {
        let policy = RetryPolicy.default
        #expect(policy.perKey.delay(attempt: 0) == .milliseconds(200))
        #expect(policy.perKey.delay(attempt: 1) == .milliseconds(400))
        #expect(policy.perKey.delay(attempt: 10) == .milliseconds(204_800))
        #expect(policy.perKey.delay(attempt: 11) == .seconds(300))
        #expect(policy.perKey.delay(attempt: 1_000) == .seconds(300))
        var bucket = policy.overall
        let burst = (0..<100).map { _ in bucket.reserve(at: .origin) }
        #expect(burst.allSatisfy { $0 == .zero })
        #expect(bucket.reserve(at: .origin) == .milliseconds(100))
        #expect(bucket.reserve(at: .origin) == .milliseconds(200))
    }
}

@Suite struct TokenBucketTests {
    @Test func givesTheBurstAtOnceThenOneTokenPerInterval() {
        var bucket = TokenBucket(interval: .milliseconds(250), burst: 2)
        #expect(bucket.reserve(at: .origin) == .zero)
        #expect(bucket.reserve(at: .origin) == .zero)
        #expect(bucket.reserve(at: .origin) == .milliseconds(250))
        #expect(bucket.reserve(at: .origin) == .milliseconds(500))
    }

    @Test func refillsWithTimeButNeverBeyondTheBurst() {
        var bucket = TokenBucket(interval: .seconds(1), burst: 2)
        _ = bucket.reserve(at: .origin)
        _ = bucket.reserve(at: .origin)
        // One second later one token is back.
        #expect(bucket.reserve(at: .origin + .seconds(1)) == .zero)
        #expect(bucket.reserve(at: .origin + .seconds(1)) == .seconds(1))
        // An hour later the bucket holds its burst of two, not 3,600.
        let later = QueueInstant.origin + .seconds(3_600)
        #expect(bucket.reserve(at: later) == .zero)
        #expect(bucket.reserve(at: later) == .zero)
        #expect(bucket.reserve(at: later) == .seconds(1))
    }

    @Test func aReservationMadeWhileWaitingQueuesBehindTheEarlierOnes() {
        var bucket = TokenBucket(perSecond: 10, burst: 1)
        #expect(bucket.reserve(at: .origin) == .zero)
        #expect(bucket.reserve(at: .origin) == .milliseconds(100))
        #expect(bucket.reserve(at: .origin + .milliseconds(50)) == .milliseconds(150))
    }
}
