import DroveEngine
import DroveManifest
import DrovePlan
import DroveQueue
import DroveStore

/// A deleted Template's copies on the hosts. The work queue holds them under keys of their
/// own (`template/<name>`: a set's name is a DNS label and has no `/`), next to the sets.
extension Controller {
    static let templateKeyPrefix = "template/"

    /// The queue key of a deleted template's removal pass, or nil for a set's key.
    static func template(ofKey key: String) -> String? {
        key.hasPrefix(templateKeyPrefix) ? String(key.dropFirst(templateKeyPrefix.count)) : nil
    }

    func enqueueDeletedTemplates() async {
        guard let state = try? await desired.state() else { return }
        for deleted in state.deleting where deleted.reference.kind == .template {
            await queue.add(Self.templateKeyPrefix + deleted.reference.name)
        }
    }

    /// A deleted template's pass: deletes its copies (and their ready markers) on every host
    /// that answers, where no VM's disk still rests on them and no kept template has the same
    /// bytes; then prunes it. A VM still using a copy (its set is being deleted too) or a host
    /// that does not answer keeps the object, and so the duty to remove the copy there.
    func templatePass(_ name: String) async throws -> ReconcileResult {
        let reference = ObjectReference(kind: .template, name: name)
        let stored = try await desired.state()
        guard stored.deleting.contains(where: { $0.reference == reference }) else { return .done }
        guard let template = stored.deletingTemplates.first(where: { $0.metadata.name == name }),
              let image = await engine.images.images(for: [template]).images[name] else {
            // Which copies are its is known only from its file's bytes.
            try await store.appendEvent(NewEvent(object: reference, type: .warning, reason: .deleted,
                                                 message: "deleted \(name); its copies on the hosts are kept: its file cannot be read to tell which they are"))
            try await store.markPruned(kind: .template, name: name)
            return .done
        }
        let kept = await engine.images.images(for: stored.manifest.templates).images.values
        if kept.contains(where: { $0.digest == image.digest }) {
            try await store.appendEvent(NewEvent(object: reference, reason: .deleted, message: "deleted \(name); its copies stay for templates with the same bytes"))
            try await store.markPruned(kind: .template, name: name)
            return .done
        }

        // Only the hosts and this image: no set, so no pre-copy wants it; `.declared` prunes
        // copies of exactly this digest that nothing uses.
        var manifest = stored.manifest
        manifest.vmSets = []
        manifest.templates = []
        manifest.hosts += stored.deletingHosts
        await view.refreshDirty()
        // Removals under way still count: a set deleted with the template may still have VMs on
        // the copy, which another pass is removing right now.
        let (plan, pass, _) = view.plan(DrovePlan.DesiredState(manifest: manifest, images: [name: image], pruneTemplates: .declared),
                                        removals: false)
        let outcome = plan.isEmpty ? Executor.Outcome() : await execute(plan, for: reference)
        view.finish(pass: pass, plan: plan, outcome: outcome)
        if let failure = outcome.failed.values.first { return .retry(failure) }

        let fleet = view.snapshot()
        let dark = manifest.hosts.map(\.metadata.name).filter { fleet.hosts[$0]?.isReachable != true }
        let inUse = fleet.hosts.filter { $0.value.templates[image.digest] != nil }.keys.sorted()
        guard dark.isEmpty, inUse.isEmpty else {
            let waiting = dark.isEmpty ? "a VM still uses its copy on \(inUse.joined(separator: ", "))"
                : "waiting for \(dark.joined(separator: ", ")) to answer"
            if try await store.object(kind: .template, name: name) != nil {
                try await store.setStatus(StatusUpdate(observedGeneration: stored.deleting.first { $0.reference == reference }?.generation ?? 0,
                                                       conditions: [.ready: ConditionReport(.false, .deleting, waiting)]), for: reference)
            }
            return .requeueAfter(.seconds(dark.isEmpty ? 2 : 10))
        }
        try await store.appendEvent(NewEvent(object: reference, reason: .deleted, message: "deleted \(name) and its copies on every host"))
        try await store.markPruned(kind: .template, name: name)
        await queue.add(Self.goldenCollectionKey) // goldens of its older contents are no one's now
        return .done
    }
}
