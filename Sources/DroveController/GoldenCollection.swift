import DroveEngine
import DroveManifest
import DrovePlan
import DroveQueue
import DroveStore

/// Golden snapshots no set wants any more (their template, resources or QEMU changed, or their
/// sets are gone) and no VM rests on, deleted from the hosts. A pass of its own on the work
/// queue (`goldens/`: a set's name is a DNS label and has no `/`), enqueued when a set settles
/// or is pruned, and when a template is pruned.
extension Controller {
    static let goldenCollectionKey = "goldens/"

    func goldenCollectionPass() async throws -> ReconcileResult {
        let stored = try await desired.state()
        let catalog = await engine.images.images(for: stored.manifest.templates)
        await view.refreshDirty()
        // VMs being removed still rest on their golden until libvirt says they are gone.
        let fleet = view.snapshot(removals: false)
        learnGoldens(in: fleet, sets: Set(stored.manifest.vmSets.map(\.metadata.name)))
        let actions = goldenGarbage(DrovePlan.DesiredState(manifest: stored.manifest, images: catalog.images), fleet,
                                    ours: goldens.withLock { $0 })
        // Events go to the template whose content each golden was made of, where it is still
        // declared; those of contents no template has any more to `template/-`.
        let owners = Dictionary(catalog.images.map { ($0.value.digest, $0.key) }, uniquingKeysWith: min)
        let byOwner = Dictionary(grouping: actions) { action -> String in
            guard case let .deleteGolden(golden) = action.kind else { return "" }
            return owners[golden.templateDigest] ?? ""
        }
        for (owner, actions) in byOwner.sorted(by: { $0.key < $1.key }) {
            let plan = Plan(actions: actions.enumerated().map { index, action in
                Action(id: index + 1, host: action.host, kind: action.kind)
            })
            let outcome = await execute(plan, for: ObjectReference(kind: .template, name: owner.isEmpty ? "-" : owner))
            if let failure = outcome.failed.values.first { return .retry(failure) }
        }
        return .done
    }

    /// Notes the goldens that VMs of `sets` rest on as this Drove's (its own plans' are noted as
    /// they are made): only such goldens are ever collected, never another installation's.
    func learnGoldens(in fleet: ObservedFleet, sets: Set<String>) {
        guard fleet.hosts.values.contains(where: { !$0.goldens.isEmpty }) else { return }
        var keys: Set<String> = []
        for host in fleet.hosts.values where !host.goldens.isEmpty {
            for vm in host.vms.values where sets.contains(vm.set) { if let golden = vm.golden { keys.insert(golden) } }
        }
        goldens.withLock { $0.formUnion(keys) }
    }
}
