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
            let result = if name == Self.goldenCollectionKey { try await goldenCollectionPass() }
                else if let template = Self.template(ofKey: name) { try await templatePass(template) }
                else { try await pass(name) }
            let label = switch result { case .done: "success"; case .requeueAfter: "requeue"; case .retry: "error" }
            ControllerMetrics.reconciled(clock.now - start, result: label)
            ControllerMetrics.queueDepth(await queue.depth)
            return result
        } catch {
            ControllerMetrics.reconciled(clock.now - start, result: "error")
            throw error
        }
    }

    /// Plan the set from the fleet view (claiming what it plans), act through the engine's
    /// shared slots, and record the set's status whatever happened.
    func pass(_ name: String) async throws -> ReconcileResult {
        let reference = ObjectReference(kind: .vmSet, name: name)
        let stored = try await desired.state()
        let deleting = stored.deleting.contains { $0.reference == reference }
        guard deleting || stored.manifest.vmSet(named: name) != nil else { return .done } // gone: nothing of it to keep
        var manifest = stored.manifest
        manifest.vmSets = manifest.vmSets.filter { $0.metadata.name == name }
        // Its VMs may be on a host deleted with it: remove them there too.
        if deleting { manifest.hosts += stored.deletingHosts }
        let generation = stored.generations[reference] ?? 0
        engine.boots.configure(sets: manifest.vmSets, in: stored.manifest) // this set only: a pass stays O(1) in sets

        let needed = deleting ? manifest.templates : manifest.vmSets.compactMap { manifest.template(named: $0.spec.template) }
        let catalog = await engine.images.images(for: needed)
        await view.refreshDirty()
        let desiredState = DrovePlan.DesiredState(manifest: manifest, images: catalog.images, removing: deleting ? [name] : [])
        let (plan, pass, _) = view.plan(desiredState)
        ControllerMetrics.hosts(reachable: view.drivers().count, declared: manifest.hosts.count)

        let outcome = plan.isEmpty ? Executor.Outcome() : await execute(plan, for: reference)
        let failures = outcome.failed.values.map(\.description).sorted()
        view.finish(pass: pass, plan: plan, outcome: outcome)
        let awaitingAddress = deleting ? 0 : await readAddresses(of: manifest.vmSets[0], in: stored.manifest)
        let fleet = view.snapshot()
        ControllerMetrics.vms(fleet)
        learnGoldens(in: fleet, sets: [name])

        if deleting {
            if plan.isEmpty {
                // A VM of the set may still run on a host that does not answer: keep the object
                // (and so the duty to remove that VM) until every host has been seen.
                let dark = manifest.hosts.map(\.metadata.name).filter { fleet.hosts[$0]?.isReachable != true }
                if !dark.isEmpty {
                    try await recordDeleting(reference, generation: generation, waitingFor: dark)
                    return .requeueAfter(.seconds(10))
                }
                // The event first: whoever sees the object gone finds the event already written.
                try await store.appendEvent(NewEvent(object: reference, reason: .deleted, message: "removed every VM of \(name)"))
                try await store.markPruned(kind: .vmSet, name: name)
                await queue.add(Self.goldenCollectionKey) // its golden snapshots may be free now
                return .done
            }
            try await recordDeleting(reference, generation: generation, waitingFor: [])
        } else {
            let set = manifest.vmSets[0]
            try await record(set, manifest: manifest, images: catalog.images, generation: generation, fleet: fleet,
                             plan: plan, failures: failures, templateFailures: catalog.failures.map(\.description), acted: !plan.isEmpty)
            await recordTemplate(set.spec.template)
        }
        guard !plan.isEmpty else {
            // Settled: golden snapshots this set (or one deleted) needed before may be free now.
            if fleet.hosts.values.contains(where: { !$0.goldens.isEmpty }) { await queue.add(Self.goldenCollectionKey) }
            return awaitingAddress > 0 ? .requeueAfter(.seconds(1)) : .done
        }
        if outcome.succeeded.isEmpty, let first = outcome.failed.values.first {
            return .retry(first)
        }
        return .requeueAfter(options.progressRequeue)
    }

    /// For a set whose readiness is `address`: reads again each of its guests still booting
    /// whose address is not known yet (no event says a DHCP lease was taken), until its readiness
    /// timeout takes it out of the boot gate; returns how many still have none.
    private func readAddresses(of set: VMSet, in manifest: Manifest) async -> Int {
        guard SetTally.readiness(of: set, in: manifest) == .address else { return 0 }
        var waiting = 0
        for (host, name) in engine.boots.booting(readiness: .address) where Naming.vm(name, belongsTo: set.metadata.name) {
            guard let vm = view.vm(name, on: host), vm.state == .running, vm.addressable, vm.addresses.isEmpty else { continue }
            await view.read(name, on: host)
            guard let now = view.vm(name, on: host) else { continue }
            engine.boots.observed(now)
            if now.addresses.isEmpty { waiting += 1 }
        }
        return waiting
    }

    /// Carries a plan out, keeping the view, the phase and copy books, metrics and events up to date.
    func execute(_ plan: Plan, for set: ObjectReference) async -> Executor.Outcome {
        let events = Mutex([NewEvent]())
        let copied = Mutex([Int: UInt64]())
        let templatesToWrite = Mutex(Set<String>())
        let outcome = await engine.executor(view.drivers()).run(plan) { [self] event in
            copied.withLock { ControllerMetrics.record(event, copied: &$0) }
            phases.note(event)
            switch event {
            case let .succeeded(action, _), let .joined(action, _):
                view.applied(action)
                if case let .makeGolden(golden) = action.kind { goldens.withLock { _ = $0.insert(golden.name.key) } }
            default: break
            }
            if let template = copies.note(event) {
                templatesToWrite.withLock { _ = $0.insert(template) }
                Task { await self.recordTemplate(template) }
            }
            guard let event = Self.event(for: event, set: set) else { return }
            events.withLock { $0.append(event) }
        }
        // Events are best effort: a full disk must not stop a rollout.
        _ = try? await store.appendEvents(events.withLock { $0 })
        for template in templatesToWrite.withLock({ $0 }) { await recordTemplate(template) }
        return outcome
    }

    /// The event log line for an action's outcome, e.g. "created web-3 on node-2, linked clone
    /// of tiny@3f2a…, 41 ms".
    static func event(for event: ExecutionEvent, set: ObjectReference) -> NewEvent? {
        switch event {
        case let .succeeded(action, duration):
            let took = "\(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000) ms"
            let (reason, message): (EventReason, String) = switch action.kind {
            case let .copyTemplate(image): (.templateCopied, "copied template \(image.name)@\(image.digest.prefix(12)) to \(action.host), \(took)")
            case let .createDisk(vm): (.diskCreated, "created \(vm.name) disk on \(action.host), \(vm.diskOrigin), \(took)")
            case let .defineVM(vm): (.defined, "defined \(vm.name) on \(action.host), \(took)")
            case let .startVM(vm): (.started, "started \(vm) on \(action.host), \(took)")
            case let .stopVM(vm): (.stopped, "stopped \(vm) on \(action.host), \(took)")
            case let .removeVM(vm): (.removed, "removed \(vm) from \(action.host), \(took)")
            case let .deleteVolume(volume): (.volumeDeleted, "deleted \(volume) on \(action.host), \(took)")
            case let .deleteTemplateCopy(digest, _): (.templateDeleted, "deleted template copy \(digest.prefix(12)) on \(action.host), \(took)")
            case let .makeGolden(golden): (.goldenSnapshotMade, "made golden snapshot \(golden.name.key) of \(golden.template.name)@\(golden.template.digest.prefix(12)) on \(action.host), \(took)")
            case let .restoreVM(vm, golden): (.started, "started \(vm) on \(action.host), restored from golden snapshot \(golden), \(took)")
            case let .deleteGolden(golden): (.goldenSnapshotDeleted, "deleted golden snapshot \(golden.key) on \(action.host), \(took)")
            }
            return NewEvent(object: set, host: action.host, reason: reason, message: message)
        case let .joined(action, _):
            guard case let .copyTemplate(image) = action.kind else { return nil }
            return NewEvent(object: set, host: action.host, reason: .templateCopyJoined,
                            message: "waited for the copy of template \(image.name)@\(image.digest.prefix(12)) to \(action.host) another set started")
        case let .noted(action, note):
            return NewEvent(object: set, host: action.host, type: .warning, reason: .bootedInstead, message: "\(action.summary): \(note)")
        case let .failed(action, error, retrying):
            return NewEvent(object: set, host: action.host, type: .warning, reason: .actionFailed,
                            message: "\(action.summary): \(error.cause)\(retrying ? " (retrying)" : "")")
        default:
            return nil
        }
    }
}
