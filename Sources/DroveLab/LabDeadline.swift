import Synchronization

/// A libvirt call did not return in time.
struct LabTimeout: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "no answer within \(seconds) s" }
}

/// Runs `operation`, giving up after `timeout`. A blocked libvirt call cannot be cancelled, so
/// this returns without waiting for it (a task group would wait); the call finishes on its own.
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = ResumeOnce<T>()
    return try await withCheckedThrowingContinuation { continuation in
        once.install(continuation)
        let timer = Task {
            try await Task.sleep(for: timeout)
            let (seconds, attoseconds) = timeout.components
            once.resume(.failure(LabTimeout(seconds: Double(seconds) + Double(attoseconds) / 1e18)))
        }
        Task {
            do {
                once.resume(.success(try await operation()))
            } catch {
                once.resume(.failure(error))
            }
            timer.cancel()
        }
    }
}

/// Resumes a continuation at most once, whichever of the racers comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func install(_ value: CheckedContinuation<T, any Error>) {
        continuation.withLock { $0 = value }
    }

    func resume(_ result: Result<T, any Error>) {
        let pending = continuation.withLock { stored -> CheckedContinuation<T, any Error>? in
            defer { stored = nil }
            return stored
        }
        pending?.resume(with: result)
    }
}
