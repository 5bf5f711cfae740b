/// Symmetric jitter: spreads a duration uniformly over `±fraction` of itself.
public struct Jitter: Sendable, Hashable {
    /// How far either way a duration may move, as a fraction of it, in `0...1`.
    public var fraction: Double

    public init(fraction: Double) {
        precondition((0...1).contains(fraction), "Jitter.fraction must be in 0...1")
        self.fraction = fraction
    }

    /// No jitter at all.
    public static let none = Jitter(fraction: 0)

    /// `duration` moved by a uniformly drawn amount within `±duration × fraction` (to the
    /// nanosecond).
    public func apply(to duration: Duration, using generator: inout some RandomNumberGenerator) -> Duration {
        let nanoseconds = duration.clampedNanoseconds
        let span = Int64((Double(nanoseconds) * fraction).magnitude)
        guard span > 0 else { return .nanoseconds(nanoseconds) }
        let (moved, overflow) = nanoseconds.addingReportingOverflow(Int64.random(in: -span...span, using: &generator))
        return .nanoseconds(overflow ? nanoseconds : moved)
    }
}

/// A periodic resync: every key is looked at again about every `interval`, even when nothing
/// happened, with jitter so that many objects (or many controllers) do not all resync in step.
///
/// The schedule is a plain value; the randomness comes from the generator passed in, so a test
/// passing a ``SeededRandomNumberGenerator`` gets the same delays every time.
public struct ResyncSchedule: Sendable, Hashable {
    /// The mean time between two resyncs.
    public var interval: Duration
    public var jitter: Jitter

    /// A resync every `interval`, `±jitter` of it (10% by default).
    public init(interval: Duration, jitter: Jitter = Jitter(fraction: 0.1)) {
        precondition(interval > .zero, "ResyncSchedule.interval must be positive")
        self.interval = interval
        self.jitter = jitter
    }

    /// The delay until the next resync: within `interval ± interval × jitter.fraction`.
    public func nextDelay(using generator: inout some RandomNumberGenerator) -> Duration {
        jitter.apply(to: interval, using: &generator)
    }

    /// The delay until the next resync, with the system's random numbers.
    public func nextDelay() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return nextDelay(using: &generator)
    }

    /// The instant of the next resync after one at (or a sync finished at) `instant`.
    public func next(after instant: QueueInstant, using generator: inout some RandomNumberGenerator) -> QueueInstant {
        instant + nextDelay(using: &generator)
    }
}

/// A small, fast, deterministic random number generator (SplitMix64), for tests and for any
/// schedule that must be reproducible from a seed. Not for anything secret.
public struct SeededRandomNumberGenerator: RandomNumberGenerator, Sendable, Hashable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
