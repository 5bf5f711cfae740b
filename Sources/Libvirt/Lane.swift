import CLibvirt
import NIOPosix

/// The dedicated threads one connection's blocking libvirt calls run on.
///
/// libvirt calls block (an RPC to the daemon, or disk I/O), so they never run on Swift's
/// cooperative pool. Each connection has its own lane of `width` threads, which bounds how many
/// calls run against that host at once and keeps one slow host from stalling another.
final class Lane: Sendable {
    private let pool: NIOThreadPool
    private let closed = Locked(false)
    /// Names the host in call statistics: the connection's URI.
    let label: String

    init(width: Int, label: String) {
        pool = NIOThreadPool(numberOfThreads: max(1, width))
        pool.start()
        self.label = label
    }

    /// Runs `body` on one of the lane's threads. The body reads libvirt's last error itself, in
    /// the same synchronous closure as the failing call, because that error is thread-local.
    /// `mutating` names a call that changes the host, counted by name and while it runs.
    func run<T: Sendable>(mutating operation: String? = nil, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard !closed.withLock({ $0 }) else { throw Self.closedError }
        CallStatistics.recordCall()
        guard let operation else { return try await pool.runIfActive(body) }
        CallStatistics.recordMutating(operation)
        let label = label
        return try await pool.runIfActive {
            CallStatistics.beginMutating(on: label)
            defer { CallStatistics.endMutating(on: label) }
            return try body()
        }
    }

    func shutdown() async {
        closed.withLock { $0 = true }
        try? await pool.shutdownGracefully()
    }

    private static let closedError = LibvirtError(
        operation: "call", code: Int32(VIR_ERR_INVALID_CONN.rawValue), domain: Int32(VIR_FROM_NONE.rawValue),
        message: "the connection is closed")
}

extension Lane {
    /// Queues `body` on the lane without waiting for it, for clean-up started from synchronous
    /// code (an AsyncStream's termination handler). Dropped if the lane has shut down.
    func submit(_ body: @escaping @Sendable () -> Void) {
        CallStatistics.recordCall()
        pool.submit { state in
            if case .active = state { body() }
        }
    }
}
