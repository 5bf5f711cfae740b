import DroveHost
import DrovePlan
import Foundation
import Libvirt

/// What happened to an action, as the executor reports it.
public enum ExecutionEvent: Sendable {
    case started(Action)
    case progress(Action, TransferStats)
    case succeeded(Action, Duration)
    /// A failure; `retrying` says whether another attempt follows.
    case failed(Action, HostError, retrying: Bool)
    /// Not run because an action it depends on failed.
    case skipped(Action, because: Int)
}

/// Limits on how much runs at once.
public struct ExecutionLimits: Sendable {
    /// Actions in flight over the whole fleet.
    public var global: Int
    /// Attempts per action for transient failures (a lost connection, a busy pool).
    public var attempts: Int
    /// The first retry's delay; each next one doubles it.
    public var backoff: Duration

    public init(global: Int = 32, attempts: Int = 3, backoff: Duration = .milliseconds(200)) {
        self.global = global
        self.attempts = attempts
        self.backoff = backoff
    }
}

/// Per-host limits, from the Host objects.
public struct HostLimits: Sendable {
    public var parallel: Int
    public var transfers: Int

    public init(parallel: Int, transfers: Int) {
        self.parallel = parallel
        self.transfers = transfers
    }
}

/// Carries out a plan: actions in dependency order, in parallel under a global limit and each
/// host's own limits (operations, and template transfers). A failed action stops only what
/// depends on it; every other host and VM goes on.
public struct Executor: Sendable {
    public let hosts: [String: any HostDriver]
    public let hostLimits: [String: HostLimits]
    public let limits: ExecutionLimits

    public init(hosts: [String: any HostDriver], hostLimits: [String: HostLimits], limits: ExecutionLimits = ExecutionLimits()) {
        self.hosts = hosts
        self.hostLimits = hostLimits
        self.limits = limits
    }

    public struct Outcome: Sendable {
        public var succeeded: [Int] = []
        public var failed: [Int: HostError] = [:]
        public var skipped: [Int] = []
        public var allSucceeded: Bool { failed.isEmpty && skipped.isEmpty }
    }

    public func run(_ plan: Plan, report: @escaping @Sendable (ExecutionEvent) -> Void = { _ in }) async -> Outcome {
        var outcome = Outcome()
        var waiting = plan.actions
        var succeeded: Set<Int> = []
        var failedOrSkipped: Set<Int> = []
        var running = 0
        var runningPerHost: [String: Int] = [:]
        var transfersPerHost: [String: Int] = [:]

        func limit(_ host: String) -> HostLimits { hostLimits[host] ?? HostLimits(parallel: 4, transfers: 1) }

        await withTaskGroup(of: (Action, Result<Void, HostError>).self) { group in
            while true {
                // Skip what can no longer run; start what is ready, within the limits.
                var index = 0
                while index < waiting.count {
                    let action = waiting[index]
                    if let blocker = action.dependsOn.first(where: failedOrSkipped.contains) {
                        waiting.remove(at: index)
                        failedOrSkipped.insert(action.id)
                        outcome.skipped.append(action.id)
                        report(.skipped(action, because: blocker))
                        continue
                    }
                    let isTransfer = if case .copyTemplate = action.kind { true } else { false }
                    let ready = action.dependsOn.allSatisfy(succeeded.contains)
                        && running < limits.global
                        && runningPerHost[action.host, default: 0] < limit(action.host).parallel
                        && (!isTransfer || transfersPerHost[action.host, default: 0] < limit(action.host).transfers)
                    guard ready else {
                        index += 1
                        continue
                    }
                    waiting.remove(at: index)
                    running += 1
                    runningPerHost[action.host, default: 0] += 1
                    if isTransfer { transfersPerHost[action.host, default: 0] += 1 }
                    report(.started(action))
                    group.addTask { (action, await attempt(action, report: report)) }
                }

                guard let (action, result) = await group.next() else { break }
                running -= 1
                runningPerHost[action.host, default: 0] -= 1
                if case .copyTemplate = action.kind { transfersPerHost[action.host, default: 0] -= 1 }
                switch result {
                case .success:
                    succeeded.insert(action.id)
                    outcome.succeeded.append(action.id)
                case let .failure(error):
                    failedOrSkipped.insert(action.id)
                    outcome.failed[action.id] = error
                }
            }
        }
        return outcome
    }

    /// Runs one action, retrying transient failures with exponential backoff.
    private func attempt(_ action: Action, report: @escaping @Sendable (ExecutionEvent) -> Void) async -> Result<Void, HostError> {
        guard let host = hosts[action.host] else {
            let error = HostError(host: action.host, object: action.summary, cause: "not connected", transient: false)
            report(.failed(action, error, retrying: false))
            return .failure(error)
        }
        var delay = limits.backoff
        for attempt in 1...max(1, limits.attempts) {
            let clock = ContinuousClock()
            let start = clock.now
            do {
                try await host.perform(action) { stats in report(.progress(action, stats)) }
                report(.succeeded(action, clock.now - start))
                return .success(())
            } catch {
                let hostError = error as? HostError
                    ?? HostError(host: action.host, object: action.summary, cause: String(describing: error), transient: false)
                let retrying = hostError.transient && attempt < limits.attempts
                report(.failed(action, hostError, retrying: retrying))
                guard retrying else { return .failure(hostError) }
                try? await Task.sleep(for: delay)
                delay *= 2
            }
        }
        return .failure(HostError(host: action.host, object: action.summary, cause: "gave up", transient: false))
    }
}
