import DroveHost
import DrovePlan
import Foundation
import Libvirt

/// What happened to an action, as the executor reports it.
public enum ExecutionEvent: Sendable {
    /// It holds its slots and is running.
    case started(Action)
    case progress(Action, TransferStats)
    case succeeded(Action, Duration)
    /// How a finished action was done, when that differs from what was asked (a restore that
    /// booted instead); reported just before its `succeeded`.
    case noted(Action, String)
    /// A template copy that another plan was already making; this one waited for it.
    case joined(Action, Duration)
    /// A failure; `retrying` says whether another attempt follows.
    case failed(Action, HostError, retrying: Bool)
    /// Not run because an action it depends on failed.
    case skipped(Action, because: Int)
}

/// Limits on how much runs at once.
public struct ExecutionLimits: Sendable {
    /// Actions in flight over the whole fleet, across every plan being carried out.
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

/// Carries out a plan: actions in dependency order, each under its engine's shared slots (the
/// global limit, and each host's `maxParallel` and `maxTransfers`), so any number of executors
/// running at once never overrun a host. A failed action stops only what depends on it; every
/// other host and VM goes on. Template copies are single-flight per (host, digest).
public struct Executor: Sendable {
    public let hosts: [String: any HostDriver]
    let engine: Engine

    init(hosts: [String: any HostDriver], engine: Engine) {
        self.hosts = hosts
        self.engine = engine
    }

    public struct Outcome: Sendable {
        public var succeeded: [Int] = []
        public var failed: [Int: HostError] = [:]
        public var skipped: [Int] = []
        public var allSucceeded: Bool { failed.isEmpty && skipped.isEmpty }

        public init() {}
    }

    public func run(_ plan: Plan, report: @escaping @Sendable (ExecutionEvent) -> Void = { _ in }) async -> Outcome {
        var outcome = Outcome()
        var waiting = plan.actions
        var succeeded: Set<Int> = []
        var failedOrSkipped: Set<Int> = []

        await withTaskGroup(of: (Action, Result<Void, HostError>).self) { group in
            while true {
                // Skip what can no longer run; start what is ready (it then waits for its slots).
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
                    guard action.dependsOn.allSatisfy(succeeded.contains) else {
                        index += 1
                        continue
                    }
                    waiting.remove(at: index)
                    group.addTask { (action, await run(action, report: report)) }
                }

                guard let (action, result) = await group.next() else { break }
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

    /// Runs one action; a template copy already under way for the same host and digest is
    /// joined instead of started again.
    private func run(_ action: Action, report: @escaping @Sendable (ExecutionEvent) -> Void) async -> Result<Void, HostError> {
        guard let host = hosts[action.host] else {
            let error = HostError(host: action.host, object: action.summary, cause: "not connected", transient: false)
            report(.failed(action, error, retrying: false))
            return .failure(error)
        }
        if let vm = action.startedVM {
            // Admission first, then a slot: a start waiting to boot holds nothing others need.
            await engine.boots.admit(host: action.host, vm: vm)
            let result = await attempts(action, on: host, report: report)
            engine.boots.started(vm, succeeded: (try? result.get()) != nil)
            return result
        }
        guard case let .copyTemplate(image) = action.kind else {
            return await attempts(action, on: host, report: report)
        }
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let joined = try await engine.copies.run(CopyKey(host: action.host, digest: image.digest)) {
                try await attempts(action, on: host, report: report).get()
            }
            if joined { report(.joined(action, clock.now - start)) }
            return .success(())
        } catch {
            let hostError = error as? HostError
                ?? HostError(host: action.host, object: action.summary, cause: String(describing: error), transient: false)
            return .failure(hostError)
        }
    }

    /// Runs one action under its slots, retrying transient failures with exponential backoff
    /// (the slots are let go while it waits to retry).
    private func attempts(_ action: Action, on host: any HostDriver,
                          report: @escaping @Sendable (ExecutionEvent) -> Void) async -> Result<Void, HostError> {
        let isTransfer = if case .copyTemplate = action.kind { true } else { false }
        let limits = engine.limits
        var delay = limits.backoff
        for attempt in 1...max(1, limits.attempts) {
            let result: Result<Duration, HostError> = await engine.slots.withSlot(host: action.host, transfer: isTransfer) {
                // The last moment before acting: a controller that was stopped (shut down, or
                // no longer the leader) starts nothing more on a host.
                if Task.isCancelled {
                    return .failure(HostError(host: action.host, object: action.summary,
                                              cause: "not started: this controller is stopping", transient: false))
                }
                report(.started(action))
                let clock = ContinuousClock()
                let start = clock.now
                do {
                    if let note = try await host.perform(action, progress: { stats in report(.progress(action, stats)) }) {
                        report(.noted(action, note))
                    }
                    return .success(clock.now - start)
                } catch {
                    return .failure(error as? HostError
                        ?? HostError(host: action.host, object: action.summary, cause: String(describing: error), transient: false))
                }
            }
            switch result {
            case let .success(duration):
                report(.succeeded(action, duration))
                return .success(())
            case let .failure(error):
                let retrying = error.transient && attempt < limits.attempts
                report(.failed(action, error, retrying: retrying))
                guard retrying else { return .failure(error) }
                try? await Task.sleep(for: delay)
                delay *= 2
            }
        }
        return .failure(HostError(host: action.host, object: action.summary, cause: "gave up", transient: false))
    }
}
