/// Exponential backoff with a cap and optional jitter, for reconnect and retry loops.
///
/// The un-jittered delay of attempt `n` (counting from 0) is `initial × multiplierⁿ`, capped at
/// `maximum`. With a `jitter` fraction `j` in `0...1`, each delay is drawn uniformly from
/// `[d × (1 − j), d]`: jitter only ever shortens a delay, so `maximum` is a hard cap and clients
/// that all fail at once spread out instead of retrying in step.
///
/// A value carries its own attempt count: call ``next(using:)`` after each failure and
/// ``reset()`` after a success.
///
/// ```swift
/// var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30), jitter: 0.2)
/// while true {
///     do { try await connect(); backoff.reset(); break }
///     catch { try await clock.sleep(until: clock.now + backoff.next()) }
/// }
/// ```
public struct Backoff: Sendable, Hashable {
    /// The delay before the first retry.
    public var initial: Duration
    /// The factor each failure multiplies the delay by; at least 1.
    public var multiplier: Double
    /// The longest delay, jitter included.
    public var maximum: Duration
    /// The fraction of a delay that jitter may take off it, in `0...1`; 0 for none.
    public var jitter: Double
    /// Failures since the last ``reset()``; the next delay is this attempt's.
    public private(set) var attempt: Int = 0

    public init(initial: Duration, multiplier: Double = 2, maximum: Duration, jitter: Double = 0) {
        precondition(initial >= .zero, "Backoff.initial must not be negative")
        precondition(maximum >= initial, "Backoff.maximum must be at least Backoff.initial")
        precondition(multiplier >= 1 && multiplier.isFinite, "Backoff.multiplier must be a finite number ≥ 1")
        precondition((0...1).contains(jitter), "Backoff.jitter must be in 0...1")
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The un-jittered delay of attempt `attempt` (0 is the first): `initial × multiplier^attempt`,
    /// capped at `maximum`. Exact when `multiplier` is a whole number.
    public func delay(attempt: Int) -> Duration {
        let cap = maximum.clampedNanoseconds
        var delay = min(initial.clampedNanoseconds, cap)
        guard attempt > 0, delay > 0, multiplier > 1 else { return .nanoseconds(delay) }
        if let factor = Int64(exactly: multiplier) {
            // At least doubling, so this loop ends within 64 turns once the cap is reached.
            for _ in 0..<attempt {
                let (next, overflow) = delay.multipliedReportingOverflow(by: factor)
                if overflow || next >= cap { return .nanoseconds(cap) }
                delay = next
            }
            return .nanoseconds(delay)
        }
        let scaled = Double(delay) * pow(multiplier, attempt)
        return scaled.isFinite && scaled < Double(cap) ? .nanoseconds(Int64(scaled)) : .nanoseconds(cap)
    }

    /// The delay of attempt `attempt` with jitter drawn from `generator`: uniformly within
    /// `[d × (1 − jitter), d]`, where `d` is ``delay(attempt:)``.
    public func jitteredDelay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let delay = self.delay(attempt: attempt).clampedNanoseconds
        let span = Int64(Double(delay) * jitter)
        guard span > 0 else { return .nanoseconds(delay) }
        return .nanoseconds(delay - Int64.random(in: 0...span, using: &generator))
    }

    /// The (jittered) delay to wait before the next attempt; counts one more failure.
    public mutating func next(using generator: inout some RandomNumberGenerator) -> Duration {
        defer { attempt += 1 }
        return jitteredDelay(attempt: attempt, using: &generator)
    }

    /// The (jittered) delay to wait before the next attempt, with the system's random numbers;
    /// counts one more failure.
    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// Starts over from ``initial`` (after a success).
    public mutating func reset() { attempt = 0 }
}

/// `base` to the whole power `exponent`, without Foundation.
private func pow(_ base: Double, _ exponent: Int) -> Double {
    var result = 1.0
    var base = base
    var exponent = exponent
    while exponent > 0 {
        if exponent & 1 == 1 { result *= base }
        base *= base
        exponent >>= 1
        if result.isInfinite { break }
    }
    return result
}
