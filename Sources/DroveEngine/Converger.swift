import DroveHost
import DroveManifest
import DrovePlan

/// What a converge run reports as it goes.
public enum ConvergeEvent: Sendable {
    case observed(pass: Int, ObservedFleet)
    case planned(pass: Int, Plan)
    case execution(ExecutionEvent)
}

public struct ConvergeResult: Sendable {
    /// Every set is as declared: nothing left to do and nothing that could not be placed.
    public var converged: Bool
    public var passes: Int
    /// Mutating actions carried out (a converged fleet needs zero).
    public var actionsRun: Int
    public var failures: [HostError]
    public var unschedulable: [Unschedulable]
    public var notes: [String]
    /// The fleet as last observed.
    public var fleet: ObservedFleet
    /// Why the run stopped before converging, if it did.
    public var stopReason: String?
}

/// Observe, plan, execute, and again, until the plan is empty, nothing makes progress, or time
/// runs out. Each pass reads the fleet anew (level-triggered), so a half-done pass is finished
/// by the next.
public struct Converger: Sendable {
    public let connections: FleetConnections
    public let executor: Executor

    public init(connections: FleetConnections, hostLimits: [String: HostLimits], limits: ExecutionLimits = ExecutionLimits()) {
        self.connections = connections
        executor = Executor(hosts: connections.drivers, hostLimits: hostLimits, limits: limits)
    }

    public func converge(_ desired: DesiredState, timeout: Duration,
                         report: @escaping @Sendable (ConvergeEvent) -> Void = { _ in }) async -> ConvergeResult {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var result = ConvergeResult(converged: false, passes: 0, actionsRun: 0, failures: [], unschedulable: [],
                                    notes: [], fleet: ObservedFleet(hosts: []))
        while true {
            result.passes += 1
            let fleet = await connections.observe()
            report(.observed(pass: result.passes, fleet))
            let plan = DrovePlan.plan(desired, fleet)
            report(.planned(pass: result.passes, plan))
            result.fleet = fleet
            result.unschedulable = plan.unschedulable
            result.notes = plan.notes
            if plan.isEmpty {
                result.converged = plan.unschedulable.isEmpty
                if !result.converged { result.stopReason = "\(plan.unschedulable.count) VMs could not be placed" }
                return result
            }
            if clock.now >= deadline {
                result.stopReason = "timed out with \(plan.actions.count) actions left"
                return result
            }
            let outcome = await executor.run(plan) { report(.execution($0)) }
            result.actionsRun += outcome.succeeded.count
            result.failures = outcome.failed.keys.sorted().map { outcome.failed[$0]! }
            if outcome.succeeded.isEmpty {
                result.stopReason = "no action succeeded in pass \(result.passes)"
                return result
            }
        }
    }
}
