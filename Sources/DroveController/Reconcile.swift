import DroveEngine
import DroveHost
import DroveManifest
import DrovePlan
import DroveQueue
import DroveStore
import Foundation
import Synchronization

extension Controller {
    /// One pass for one VM set, timed and counted.
    func reconcile(_ name: String) async throws -> ReconcileResult {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let result = try await pass(name)
            let label = switch result { case .done: "success"; case .requeueAfter: "requeue"; case .retry: "error" }
            ControllerMetrics.reconciled(clock.now - start, result: label)
            ControllerMetrics.queueDepth(await queue.depth)
            return result
        } catch {
            ControllerMetrics.reconciled(clock.now - start, result: "error")
            throw error
        }
    }

    /// Observe, plan the set alone, act, record.
    func pass(_ name: String) async throws -> ReconcileResult {
        let reference = ObjectReference(kind: .vmSet, name: name)
        let stored = try await store.desiredState(policy: options.policy)
        var manifest = stored.manifest
        let deleting = stored.deleting.contains { $0.reference == reference }
        guard deleting || manifest.vmSet(named: name) != nil else { return .done } // gone: nothing of it to keep
        manifest.vmSets = manifest.vmSets.filter { $0.metadata.name == name }

        let needed = manifest.vmSets.compactMap { manifest.template(named: $0.spec.template) }
        let catalog = await images.images(for: deleting ? manifest.templates : needed, allowed: options.policy.templateFiles)
        let connections = fleet.connections()
        let observed = await connections.observe()
        ControllerMetrics.hosts(reachable: connections.drivers.count, declared: stored.manifest.hosts.count)
        let desired = DrovePlan.DesiredState(manifest: manifest, images: catalog.images, removing: deleting ? [name] : [])
        let plan = DrovePlan.plan(desired, observed)
        let generation = stored.generations[reference] ?? 0

        if plan.isEmpty {
            if deleting {
                // A VM of the set may still run on a host that does not answer: keep the object
                // (and so the duty to remove that VM) until every host has been seen.
                let dark = manifest.hosts.map(\.metadata.name).filter { observed.hosts[$0]?.isReachable != true }
                if !dark.isEmpty { return .requeueAfter(.seconds(10)) }
                try await store.markPruned(kind: .vmSet, name: name)
                try await store.appendEvent(NewEvent(object: reference, reason: "Deleted", message: "removed every VM of \(name)"))
                return .done
            }
            try await record(manifest.vmSets[0], generation: generation, observed: observed, plan: plan, failures: [],
                             templateFailures: catalog.failures.map(\.description), acted: false)
            return .done
        }

        let executor = Executor(hosts: connections.drivers, hostLimits: hostLimits(manifest), limits: options.limits)
        let events = Mutex([NewEvent]())
        let copied = Mutex([Int: UInt64]())
        let outcome = await executor.run(plan) { event in
            copied.withLock { ControllerMetrics.record(event, copied: &$0) }
            guard let event = Self.event(for: event, set: reference) else { return }
            events.withLock { $0.append(event) }
        }
        // Events are best effort: a full disk must not stop a rollout.
        _ = try? await store.appendEvents(events.withLock { $0 })
        let failures = outcome.failed.values.map(\.description).sorted()
        if !deleting {
            try await record(manifest.vmSets[0], generation: generation, observed: await connections.observe(), plan: plan,
                             failures: failures, templateFailures: catalog.failures.map(\.description), acted: true)
        }
        if outcome.succeeded.isEmpty, let first = outcome.failed.values.first {
            return .retry(first)
        }
        return .requeueAfter(options.progressRequeue)
    }

    func hostLimits(_ manifest: Manifest) -> [String: HostLimits] {
        Dictionary(uniqueKeysWithValues: manifest.hosts.map {
            ($0.metadata.name, HostLimits(parallel: $0.spec.maxParallel, transfers: $0.spec.maxTransfers))
        })
    }

    /// Writes the set's counters and conditions.
    func record(_ set: VMSet, generation: Int, observed: ObservedFleet, plan: Plan, failures: [String],
                templateFailures: [String], acted: Bool) async throws {
        let reference = ObjectReference(kind: .vmSet, name: set.metadata.name)
        let vms = observed.hosts.values.flatMap { $0.vms.values.filter { $0.set == reference.name && $0.ordinal < set.spec.replicas } }
        let running = vms.filter { $0.state == .running }.count
        let unknown = plan.unschedulable.filter { $0.reason.hasPrefix("unknown") }.count
        ControllerMetrics.vms(observed)
        let counters = [
            StatusCounter.desired: set.spec.replicas, StatusCounter.present: vms.count, StatusCounter.running: running,
            StatusCounter.ready: vms.filter(\.ready).count, StatusCounter.unknown: unknown,
        ]
        let wanted = set.spec.runStrategy == .running ? running : vms.count
        let converged = plan.isEmpty && wanted == set.spec.replicas
        let problems = templateFailures + failures + plan.unschedulable.map { "\($0.vm): \($0.reason)" }

        var conditions: [ConditionType: ConditionReport] = [:]
        conditions[.ready] = converged
            ? ConditionReport(status: .true, reason: "Converged", message: "\(wanted)/\(set.spec.replicas) VMs as declared")
            : ConditionReport(status: .false, reason: unknown > 0 ? "HostUnreachable" : "NotConverged",
                              message: "\(wanted)/\(set.spec.replicas) VMs as declared")
        conditions[.progressing] = acted
            ? ConditionReport(status: .true, reason: "Reconciling", message: "\(plan.actions.count) actions this pass")
            : ConditionReport(status: .false, reason: converged ? "Converged" : "Waiting", message: "")
        conditions[.degraded] = problems.isEmpty
            ? ConditionReport(status: .false, reason: "NoProblems", message: "")
            : ConditionReport(status: .true, reason: failures.isEmpty ? (templateFailures.isEmpty ? "Unschedulable" : "TemplateUnreadable") : "ActionsFailed",
                              message: problems.prefix(5).joined(separator: "; "))
        try await store.setStatus(StatusUpdate(observedGeneration: generation, conditions: conditions, counters: counters), for: reference)
    }

    /// The event log line for an action's outcome, e.g. "created web-3 on node-2, linked clone
    /// of tiny@3f2a…, 41 ms".
    static func event(for event: ExecutionEvent, set: ObjectReference) -> NewEvent? {
        switch event {
        case let .succeeded(action, duration):
            let took = "\(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000) ms"
            let (reason, message): (String, String) = switch action.kind {
            case let .copyTemplate(image): ("TemplateCopied", "copied template \(image.name)@\(image.digest.prefix(12)) to \(action.host), \(took)")
            case let .createDisk(vm): ("DiskCreated", "created \(vm.name) disk on \(action.host), \(vm.clone.rawValue) clone of \(vm.template.name)@\(vm.template.digest.prefix(12)), \(took)")
            case let .defineVM(vm): ("Defined", "defined \(vm.name) on \(action.host), \(took)")
            case let .startVM(vm): ("Started", "started \(vm) on \(action.host), \(took)")
            case let .stopVM(vm): ("Stopped", "stopped \(vm) on \(action.host), \(took)")
            case let .removeVM(vm): ("Removed", "removed \(vm) from \(action.host), \(took)")
            case let .deleteVolume(volume): ("VolumeDeleted", "deleted \(volume) on \(action.host), \(took)")
            case let .deleteTemplateCopy(digest, _): ("TemplateDeleted", "deleted template copy \(digest.prefix(12)) on \(action.host), \(took)")
            }
            return NewEvent(object: set, host: action.host, reason: reason, message: message)
        case let .failed(action, error, retrying):
            return NewEvent(object: set, host: action.host, type: .warning, reason: "ActionFailed",
                            message: "\(action.summary): \(error.cause)\(retrying ? " (retrying)" : "")")
        default:
            return nil
        }
    }
}
