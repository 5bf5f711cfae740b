import Logging

/// What a reconcile pass asks of the queue when it returns.
public enum ReconcileResult: Sendable {
    /// Converged (or nothing to do): the key's backoff is reset.
    case done
    /// Look again after this delay (waiting on something that has no event, say a guest
    /// booting): the key's backoff is reset and the key added after the delay.
    case requeueAfter(Duration)
    /// Failed: retried with the key's backoff (``WorkQueue/addRateLimited(_:)``), unless the
    /// error is a ``TerminalError``, which is logged and not retried.
    case retry(any Error)
}

/// A failure that retrying cannot fix (an invalid spec, a template that does not exist): the
/// worker logs it and does not retry the key, like controller-runtime's `TerminalError`. The
/// key is processed again when something adds it (an edit of the object, a resync).
public struct TerminalError: Error, CustomStringConvertible {
    /// What went wrong.
    public let underlying: any Error

    public init(_ underlying: any Error) { self.underlying = underlying }

    /// A terminal error with only a message.
    public init(_ message: String) { self.underlying = Message(text: message) }

    public var description: String { String(describing: underlying) }

    private struct Message: Error, CustomStringConvertible {
        var text: String
        var description: String { text }
    }
}

/// Runs `count` workers that take keys from `queue` and pass them to `reconcile`, until the
/// queue is shut down and drained (or the calling task is cancelled); returns once every worker
/// has finished the key it held.
///
/// Each result is applied to the queue as controller-runtime does: ``ReconcileResult/done``
/// forgets the key's backoff; ``ReconcileResult/requeueAfter(_:)`` forgets it and adds the key
/// after the delay; ``ReconcileResult/retry(_:)`` — and an error thrown by `reconcile`, which
/// counts the same — adds the key rate-limited, unless the error is a ``TerminalError``, which
/// forgets the key and leaves it. The queue never gives one key to two workers at once.
///
/// This is a plain `async` function, to be run from a service's `run()`.
///
/// - Parameters:
///   - logger: failures are logged to it, with the key as `queue.key` and the worker's index as
///     `queue.worker`.
public func runWorkers<Key: Hashable & Sendable>(
    queue: WorkQueue<Key>,
    count: Int,
    logger: Logger,
    reconcile: @escaping @Sendable (Key) async throws -> ReconcileResult
) async {
    precondition(count >= 1, "runWorkers needs at least one worker")
    await withDiscardingTaskGroup { group in
        for index in 0..<count {
            group.addTask {
                var logger = logger
                logger[metadataKey: "queue.worker"] = "\(index)"
                while await processNextKey(queue: queue, logger: logger, reconcile: reconcile) {}
            }
        }
    }
}

/// Takes one key from `queue`, reconciles it and applies the result; false when the queue had
/// no more keys for this worker (shut down and drained, or the task is cancelled).
func processNextKey<Key: Hashable & Sendable>(
    queue: WorkQueue<Key>,
    logger: Logger,
    reconcile: @Sendable (Key) async throws -> ReconcileResult
) async -> Bool {
    guard let key = await queue.next() else { return false }
    var logger = logger
    logger[metadataKey: "queue.key"] = "\(key)"

    let result: ReconcileResult
    do {
        result = try await reconcile(key)
    } catch {
        result = .retry(error)
    }

    switch result {
    case .done:
        await queue.forget(key)
    case .requeueAfter(let delay):
        await queue.forget(key)
        await queue.addAfter(key, delay)
        logger.debug("Requeued", metadata: ["queue.requeue_after": "\(delay)"])
    case .retry(let error as TerminalError):
        await queue.forget(key)
        logger.error("Reconcile failed; not retrying", metadata: ["error": "\(error)"])
    case .retry(let error):
        let delay = await queue.addRateLimited(key)
        let attempt = await queue.numRequeues(key)
        logger.warning("Reconcile failed; retrying", metadata: [
            "error": "\(error)", "retry.attempt": "\(attempt)", "retry.delay": "\(delay)",
        ])
    }
    await queue.done(key)
    return true
}
