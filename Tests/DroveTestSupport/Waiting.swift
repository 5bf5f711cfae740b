import Testing

/// Polls `condition` until it holds; at `timeout` records a test issue naming `what` and throws
/// `CancellationError`, which the tests' harnesses take as "already recorded".
public func waitUntil(_ what: String, timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(10),
                      _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try await Task.sleep(for: interval)
    }
    Issue.record("timed out waiting until \(what)")
    throw CancellationError()
}
