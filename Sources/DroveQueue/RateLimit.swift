/// A token bucket: `burst` tokens at most, refilled at one token per `interval`.
///
/// Taking a token never fails; ``reserve(at:)`` takes one and says how long its holder must wait
/// for it (zero while tokens are left), as Go's `rate.Limiter.Reserve` does. It is computed as a
/// generic cell rate algorithm on integer durations, so the delays are exact.
public struct TokenBucket: Sendable, Hashable {
    /// The time one token takes to refill.
    public let interval: Duration
    /// How many tokens the bucket holds when full.
    public let burst: Int
    /// When the bucket would next be full if nothing more were taken (the "theoretical arrival
    /// time" of the algorithm); nil before the first reservation (a full bucket).
    private var fullAt: QueueInstant?

    /// A bucket refilling one token every `interval`, holding at most `burst`.
    public init(interval: Duration, burst: Int) {
        precondition(interval > .zero, "TokenBucket.interval must be positive")
        precondition(burst >= 1, "TokenBucket.burst must be at least 1")
        self.interval = interval
        self.burst = burst
    }

    /// A bucket refilling `perSecond` tokens a second, holding at most `burst`.
    public init(perSecond: Int, burst: Int) {
        precondition(perSecond >= 1, "TokenBucket rate must be at least 1 a second")
        self.init(interval: .seconds(1) / perSecond, burst: burst)
    }

    /// Takes a token at `now`; returns how long after `now` it becomes usable (zero when the
    /// bucket had one).
    public mutating func reserve(at now: QueueInstant) -> Duration {
        let start = max(fullAt ?? now, now)
        let next = start + interval
        fullAt = next
        // The token is usable once the bucket could have held it: `burst` intervals before full.
        let usableAt = next.advanced(by: .zero - interval * burst)
        return max(.zero, usableAt - now)
    }
}

/// How ``WorkQueue/addRateLimited(_:)`` delays retries: the longer of a per-key exponential
/// backoff and the wait for a token from one bucket shared by all keys, like client-go's default
/// controller rate limiter.
///
/// The per-key backoff keeps one failing object from spinning; the shared bucket keeps a storm of
/// failures (a host going down under a thousand VMs) from becoming a storm of retries.
public struct RetryPolicy: Sendable, Hashable {
    /// The per-key backoff: a key's `n`th retry since its last ``WorkQueue/forget(_:)`` waits
    /// `perKey.delay(attempt: n)`. Its jitter, if any, is not used: the queue's delays are exact.
    public var perKey: Backoff
    /// The bucket every retry of every key takes a token from.
    public var overall: TokenBucket

    public init(perKey: Backoff, overall: TokenBucket) {
        self.perKey = perKey
        self.overall = overall
    }

    /// 200 ms doubling per failure up to 5 minutes per key; at most 10 retries a second overall
    /// after a burst of 100.
    public static let `default` = RetryPolicy(
        perKey: Backoff(initial: .milliseconds(200), maximum: .seconds(300)),
        overall: TokenBucket(perSecond: 10, burst: 100))
}
