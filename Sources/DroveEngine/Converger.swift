import DroveHost
import DroveManifest
import DrovePlan

/// What a converge run reports as it goes.
public enum ConvergeEvent: Sendable {
    case observed(pass: Int, ObservedFleet)
    case planned(pass: Int, Plan)
    case execution(ExecutionEvent)
    /// Nothing left to do, but not every guest is ready yet.
    case waitingForGuests(ready: Int, of: Int)
}

public struct ConvergeResult: Sendable {
    /// Every set is as declared: nothing left to do, nothing that could not be placed, and (when
    /// asked to wait for it) every guest ready.
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
/// runs out; then, if asked, until every guest is ready. Each pass reads the fleet anew
/// (level-triggered), so a half-done pass is finished by the next.
public struct Converger: Sendable {
    /// What "done" means.
    public enum Goal: Sendable {
        /// Every VM defined and running (or stopped, as its set says).
        case running
        /// Every VM also ready: for `readiness: agent` templates, its guest has said so.
        case ready
    }

    public let connections: FleetConnections
    public let engine: Engine

    public init(engine: Engine, connections: FleetConnections) {
        self.engine = engine
        self.connections = connections
    }

    public func converge(_ desired: DesiredState, timeout: Duration, goal: Goal = .running,
                         report: @escaping @Sendable (ConvergeEvent) -> Void = { _ in }) async -> ConvergeResult {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let executor = engine.executor(connections.drivers)
        var result = ConvergeResult(converged: false, passes: 0, actionsRun: 0, failures: [], unschedulable: [],
                                    notes: [], fleet: ObservedFleet(hosts: []))
        // Waiting for guests listens to the hosts rather than reading them again and again:
        // subscribed before the first look, so no guest's word is missed. The same subscription
        // tells the boot gate about the guests it admitted.
        engine.boots.configure(in: desired.manifest)
        let signals = await GuestSignals(connections.drivers, gate: engine.boots)
        defer { signals.stop() }
        var fleet: ObservedFleet?
        var lookedAt = clock.now
        while true {
            if fleet == nil {
                result.passes += 1
                lookedAt = clock.now
                fleet = await connections.observe()
                for host in fleet!.hosts.values where host.isReachable { engine.boots.configure(host: host.name, cpus: host.cpus) }
                report(.observed(pass: result.passes, fleet!))
            }
            let plan = DrovePlan.plan(desired, fleet!)
            report(.planned(pass: result.passes, plan))
            result.fleet = fleet!
            result.unschedulable = plan.unschedulable
            result.notes = plan.notes
            if plan.isEmpty {
                guard plan.unschedulable.isEmpty else {
                    result.stopReason = "\(plan.unschedulable.count) VMs could not be placed"
                    return result
                }
                let (ready, wanted) = Self.guests(desired, fleet!)
                if goal == .running || ready == wanted {
                    result.converged = true
                    return result
                }
                if clock.now >= deadline {
                    result.stopReason = "timed out with \(ready) of \(wanted) guests ready"
                    return result
                }
                report(.waitingForGuests(ready: ready, of: wanted))
                switch await signals.next(after: lookedAt, until: deadline) {
                case let .agentConnected(host, vm)?:
                    // The guest's word is all that changed: no need to read the host again.
                    if fleet!.hosts[host]?.vms[vm]?.state == .running { fleet!.hosts[host]!.vms[vm]!.agentConnected = true }
                case .changed?, .tick?, nil:
                    fleet = nil
                }
                continue
            }
            if clock.now >= deadline {
                result.stopReason = "timed out with \(plan.actions.count) actions left"
                return result
            }
            let outcome = await executor.run(plan) { report(.execution($0)) }
            result.actionsRun += outcome.succeeded.count
            result.failures = outcome.failed.keys.sorted().map { outcome.failed[$0]! }
            fleet = nil
            if outcome.succeeded.isEmpty {
                result.stopReason = "no action succeeded in pass \(result.passes)"
                return result
            }
        }
    }

    /// Ready guests against wanted ones, over the sets that should run.
    static func guests(_ desired: DesiredState, _ fleet: ObservedFleet) -> (ready: Int, wanted: Int) {
        var ready = 0, wanted = 0
        for set in desired.manifest.vmSets where !desired.removing.contains(set.metadata.name) && set.spec.runStrategy == .running {
            let readiness = SetTally.readiness(of: set, in: desired.manifest)
            let tally = SetTally.of(set, readiness: readiness, image: desired.images[set.spec.template],
                                    hosts: desired.manifest.hosts, fleet: fleet, unknown: 0)
            ready += tally.readyAndUpdated
            wanted += set.spec.replicas
        }
        return (ready, wanted)
    }
}

/// The hosts' events during a converge run (one subscription per host: libvirt takes one close
/// callback per connection), merged into one stream with ticks, so that waiting for guests still
/// reads the fleet every `reread` (a host without events, or a lost one) and ends at its
/// deadline. They also tell the boot gate about the guests it admitted: an event about a
/// booting guest reads that domain, and guests waiting for an address are read once a second,
/// since no event says a DHCP lease was taken.
final class GuestSignals: Sendable {
    enum Signal: Sendable {
        case agentConnected(host: String, vm: String)
        /// Anything else that changed a domain or a host: read the fleet again.
        case changed
        case tick
    }

    private let stream: AsyncStream<(Signal, ContinuousClock.Instant)>
    private let tasks: [Task<Void, Never>]
    private let reread: Duration

    init(_ drivers: [String: any HostDriver], gate: BootGate, reread: Duration = .seconds(5)) async {
        self.reread = reread
        // Newest only: nobody reads the stream while a plan is carried out.
        let (stream, continuation) = AsyncStream.makeStream(of: (Signal, ContinuousClock.Instant).self, bufferingPolicy: .bufferingNewest(4096))
        self.stream = stream
        var tasks: [Task<Void, Never>] = []
        for (name, driver) in drivers {
            guard let events = try? await driver.events() else { continue }
            tasks.append(Task {
                for await event in events {
                    if case let .domain(vm, kind) = event, gate.booting().contains(where: { $0.vm == vm }) {
                        if BootGate.ends(kind) { gate.settle(vm) } else { await Self.look(at: vm, on: driver, gate: gate) }
                    }
                    switch event {
                    case let .domain(vm, .agentConnected): continuation.yield((.agentConnected(host: name, vm: vm), .now))
                    case .domain, .closed: continuation.yield((.changed, .now))
                    }
                }
            })
        }
        tasks.append(Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                continuation.yield((.tick, .now))
            }
        })
        tasks.append(Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                for (host, vm) in gate.booting(readiness: .address) {
                    guard let driver = drivers[host] else { continue }
                    await Self.look(at: vm, on: driver, gate: gate)
                }
            }
        })
        self.tasks = tasks
    }

    private static func look(at vm: String, on driver: any HostDriver, gate: BootGate) async {
        if case let .drove(observed)? = try? await driver.observeDomain(vm) { gate.observed(observed) }
    }

    /// The next signal that came after `instant` (older ones are already in what was read
    /// then), or a tick once `reread` has passed since it or `deadline` has come.
    func next(after instant: ContinuousClock.Instant, until deadline: ContinuousClock.Instant) async -> Signal? {
        for await (signal, at) in stream {
            if case .tick = signal {
                if at >= deadline || at - instant >= reread { return signal }
                continue
            }
            if at >= instant { return signal }
        }
        return nil
    }

    func stop() {
        for task in tasks { task.cancel() }
    }
}
