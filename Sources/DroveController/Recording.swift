import DroveAPI
import DroveEngine
import DroveManifest
import DrovePlan
import DroveStore
import Foundation

extension Controller {
    /// Writes a VM set's counters and conditions, as `SetTally` reads the fleet: Ready when every
    /// replica is ready (by its guest's word where the template can tell) and made from the
    /// current spec; Available when enough are; Progressing while it acts or waits for guests;
    /// Degraded when something failed.
    func record(_ set: VMSet, manifest: Manifest, images: [String: TemplateImage], generation: Int, fleet: ObservedFleet,
                plan: Plan, failures: [String], templateFailures: [String], acted: Bool) async throws {
        let reference = ObjectReference(kind: .vmSet, name: set.metadata.name)
        let readiness = SetTally.readiness(of: set, in: manifest)
        let unknown = plan.unschedulable.filter { $0.cause == .mayBeOnUnreachableHost }.count
        let unplaced = plan.unschedulable.filter { $0.cause != .mayBeOnUnreachableHost && $0.cause != .templateUnreadable }
        let tally = SetTally.of(set, readiness: readiness, image: images[set.spec.template], hosts: manifest.hosts,
                                fleet: fleet, unknown: unknown)
        let counters = [
            StatusCounter.desired: tally.replicas, StatusCounter.present: tally.present, StatusCounter.running: tally.running,
            StatusCounter.ready: tally.ready, StatusCounter.updated: tally.updated, StatusCounter.unknown: tally.unknown,
        ]
        let summary = "\(tally.readyAndUpdated)/\(tally.replicas) ready and updated (\(tally.ready) ready, \(tally.updated) updated, "
            + "readiness: \(readiness.rawValue))" + Self.bootNote(set, fleet: fleet)

        var conditions: [ConditionType: ConditionReport] = [:]
        if tally.isReady {
            conditions[.ready] = ConditionReport(.true, .allReplicasReady, summary)
        } else {
            let reason: ConditionReason = if images[set.spec.template] == nil { .templateUnreadable }
                else if unknown > 0 { .hostUnreachable }
                else if !unplaced.isEmpty { .unschedulable }
                else if tally.updated < tally.replicas { .rollingOut }
                else { .replicasNotReady }
            conditions[.ready] = ConditionReport(.false, reason, summary)
        }
        let needed = max(0, tally.replicas - tally.maxUnavailable)
        conditions[.available] = tally.isAvailable
            ? ConditionReport(.true, .minimumReplicasAvailable, "\(tally.ready) ready, \(needed) needed")
            : ConditionReport(.false, .tooFewReplicasAvailable, "\(tally.ready) ready, \(needed) needed")
        if acted {
            conditions[.progressing] = ConditionReport(.true, .reconciling, "\(plan.actions.count) actions this pass")
        } else if tally.isReady {
            conditions[.progressing] = ConditionReport(.false, .converged)
        } else if let blocked = [ConditionReason.templateUnreadable, .hostUnreachable, .unschedulable]
            .first(where: { $0.rawValue == conditions[.ready]!.reason }) {
            // Nothing this controller can do moves it on: not progressing, and why.
            conditions[.progressing] = ConditionReport(.false, blocked, conditions[.ready]!.message)
        } else {
            // Its replicas (or their replacements) are up but not all ready: waiting for guests.
            conditions[.progressing] = ConditionReport(.true, .waitingForGuests, "\(tally.replicas - tally.ready) guests have not said they are up")
        }
        let problems = templateFailures + failures + plan.unschedulable.map { "\($0.vm): \($0.reason)" }
        if problems.isEmpty {
            conditions[.degraded] = ConditionReport(.false, .noProblems)
        } else {
            let reason: ConditionReason = !failures.isEmpty ? .actionsFailed : !templateFailures.isEmpty ? .templateUnreadable
                : !unplaced.isEmpty ? .unschedulable : .hostUnreachable
            conditions[.degraded] = ConditionReport(.true, reason, problems.prefix(5).joined(separator: "; "))
        }
        try await store.setStatus(StatusUpdate(observedGeneration: generation, conditions: conditions, counters: counters,
                                               details: StatusDetails(readiness: readiness.rawValue)), for: reference)
    }

    /// For a `start: snapshot` set, its VMs that boot instead of resuming and why: made to boot
    /// on hosts where the template's golden guest never asked for an identity.
    static func bootNote(_ set: VMSet, fleet: ObservedFleet) -> String {
        guard set.spec.start == .snapshot else { return "" }
        var booting: [String: Int] = [:] // by host
        for host in fleet.hosts.values {
            for vm in host.vms.values where vm.set == set.metadata.name && vm.golden == nil { booting[host.name, default: 0] += 1 }
        }
        guard !booting.isEmpty else { return "" }
        let unsupported = booting.keys.filter { host in fleet.hosts[host]?.goldens.values.contains { $0.state == .unsupported } == true }.sorted()
        let why = unsupported.isEmpty ? "" : ": template \(set.spec.template) cannot take an identity after resuming on \(unsupported.joined(separator: ", "))"
        return "; \(booting.values.reduce(0, +)) boot instead of resuming from a snapshot\(why)"
    }

    /// A set being deleted says so while its VMs go.
    func recordDeleting(_ reference: ObjectReference, generation: Int, waitingFor dark: [String]) async throws {
        let fleet = view.snapshot(removals: false)
        let left = fleet.hosts.values.reduce(0) { $0 + $1.vms.values.filter { $0.set == reference.name }.count }
        let message = dark.isEmpty ? "\(left) VMs left to remove" : "\(left) VMs left; waiting for \(dark.joined(separator: ", ")) to answer"
        guard try await store.object(kind: reference.kind, name: reference.name) != nil else { return } // pruned meanwhile
        try await store.setStatus(StatusUpdate(
            observedGeneration: generation,
            conditions: [.ready: ConditionReport(.false, .deleting, message),
                         .progressing: ConditionReport(.true, dark.isEmpty ? .reconciling : .hostUnreachable, message)],
            counters: [StatusCounter.present: left]), for: reference)
    }

    /// Writes a template's status: its copy on each declared host (present, copying with bytes
    /// and rate, failed with the cause, or missing), Progressing while a copy runs, Degraded when
    /// one failed or the file cannot be read.
    func recordTemplate(_ name: String) async {
        let reference = ObjectReference(kind: .template, name: name)
        guard let state = try? await desired.state(), let template = state.manifest.template(named: name),
              let generation = state.generations[reference] else { return }
        let images = await engine.images.images(for: [template])
        let image = images.images[name]
        let fleet = view.snapshot()
        let inFlight = copies.copies(of: name)
        var hosts: [String: TemplateCopyStatus] = [:]
        for host in state.manifest.hosts.map(\.metadata.name) {
            if let copy = inFlight[host] {
                hosts[host] = copy
            } else if let image, fleet.hosts[host]?.templates[image.digest]?.complete == true {
                hosts[host] = TemplateCopyStatus(state: .present, totalBytes: image.fileBytes)
            } else {
                hosts[host] = TemplateCopyStatus(state: .missing)
            }
        }
        let count = { (state: TemplateCopyStatus.State) in hosts.values.filter { $0.state == state }.count }
        let goldens = image.map { image in
            state.manifest.hosts.reduce(0) { total, host in
                total + (fleet.hosts[host.metadata.name]?.goldens.values.filter { $0.name.templateDigest == image.digest && $0.state == .complete }.count ?? 0)
            }
        } ?? 0
        var conditions: [ConditionType: ConditionReport] = [:]
        if let image {
            conditions[.ready] = ConditionReport(.true, .readable, "\(image.digest.prefix(12)), \(image.fileBytes) bytes, on \(count(.present)) hosts")
        } else {
            conditions[.ready] = ConditionReport(.false, .templateUnreadable, images.failures.map(\.description).joined(separator: "; "))
        }
        conditions[.progressing] = count(.copying) > 0
            ? ConditionReport(.true, .copying, "copying to \(hosts.filter { $0.value.state == .copying }.keys.sorted().joined(separator: ", "))")
            : ConditionReport(.false, .converged)
        let failed = hosts.filter { $0.value.state == .failed }.sorted { $0.key < $1.key }
        conditions[.degraded] = image == nil
            ? ConditionReport(.true, .templateUnreadable, conditions[.ready]!.message)
            : failed.isEmpty ? ConditionReport(.false, .noProblems)
            : ConditionReport(.true, .copyFailed, failed.compactMap(\.value.message).prefix(3).joined(separator: "; "))
        let update = StatusUpdate(
            observedGeneration: generation, conditions: conditions,
            counters: ["present": count(.present), "copying": count(.copying), "missing": count(.missing), "failed": count(.failed),
                       "golden": goldens],
            details: StatusDetails(hosts: hosts))
        guard copies.differs(name, update) else { return }
        if (try? await store.setStatus(update, for: reference)) != nil { copies.written(name, update) }
    }

    /// Every VM of a stored set, with its phase, from the fleet view (no libvirt call): what
    /// `GET /api/v1/vms` lists and the watch shows.
    public func vms() async -> [VMSummary] {
        guard let state = try? await desired.state() else { return [] }
        let fleet = view.snapshot(removals: false)
        let claims = view.claims()
        let lastSeen = view.lastSeen()
        var summaries: [VMSummary] = []
        var seen: Set<String> = []
        for set in state.manifest.vmSets {
            let readiness = SetTally.readiness(of: set, in: state.manifest)
            for host in fleet.hosts.values.sorted(by: { $0.name < $1.name }) {
                for vm in host.vms.values where vm.set == set.metadata.name && seen.insert(vm.name).inserted {
                    let ready = SetTally.isReady(vm, readiness: readiness)
                    let claim = claims[vm.name]
                    let removing = claim.map { $0.expectation == .absent && $0.host == host.name } ?? false
                    summaries.append(VMSummary(
                        name: vm.name, vmSet: vm.set, ordinal: vm.ordinal, host: host.name,
                        phase: removing ? .terminating : phase(of: vm, ready: ready, pending: claim.map { $0.doneAt == nil } ?? false),
                        ready: ready, templateDigest: vm.templateDigest,
                        message: phases.entry(vm.name).flatMap { if case let .failed(message) = $0.activity { message } else { nil } },
                        addresses: vm.addresses))
                }
            }
            // Last seen on a host that does not answer now: unknown, not gone (no fencing).
            for (host, vms) in lastSeen.sorted(by: { $0.key < $1.key }) {
                for vm in vms where vm.set == set.metadata.name && seen.insert(vm.name).inserted {
                    summaries.append(VMSummary(name: vm.name, vmSet: vm.set, ordinal: vm.ordinal, host: host, phase: .unknown,
                                               ready: false, templateDigest: vm.templateDigest,
                                               message: "\(host) does not answer; it may still run there"))
                }
            }
            for ordinal in 0..<set.spec.replicas {
                let name = Naming.vmName(set: set.metadata.name, ordinal: ordinal)
                guard seen.insert(name).inserted else { continue }
                let entry = phases.entry(name)
                let phase: VMPhase
                var message: String?
                switch entry?.activity {
                case .creating?: phase = .creating
                case let .failed(why)?:
                    phase = .failed
                    message = why
                default: phase = .pending
                }
                summaries.append(VMSummary(name: name, vmSet: set.metadata.name, ordinal: ordinal, host: entry?.host,
                                           phase: phase, ready: false, message: message))
            }
        }
        // Sets being deleted: their VMs are on their way out until the set is pruned.
        for deleting in state.deleting where deleting.reference.kind == .vmSet {
            for host in fleet.hosts.values.sorted(by: { $0.name < $1.name }) {
                for vm in host.vms.values where vm.set == deleting.reference.name && seen.insert(vm.name).inserted {
                    summaries.append(VMSummary(name: vm.name, vmSet: vm.set, ordinal: vm.ordinal, host: host.name, phase: .terminating,
                                               ready: false, templateDigest: vm.templateDigest))
                }
            }
        }
        return summaries.sorted { ($0.vmSet, $0.ordinal, $0.name) < ($1.vmSet, $1.ordinal, $1.name) }
    }

    /// What is being done to the VM if anything, else what the view says: a failure shows until
    /// the VM is up and ready again.
    private func phase(of vm: ObservedVM, ready: Bool, pending: Bool) -> VMPhase {
        switch phases.entry(vm.name)?.activity {
        case .creating?: return .creating
        case .starting?: return .starting
        case .terminating?: return .terminating
        case .failed? where !(vm.state == .running && ready): return .failed
        case .failed?, nil:
            if pending { return vm.state == .running ? .starting : .creating }
            if vm.state != .running { return .stopped }
            return ready ? .running : .starting
        }
    }
}
