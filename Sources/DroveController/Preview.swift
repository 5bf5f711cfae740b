import DroveEngine
import DroveManifest
import DrovePlan

extension Controller {
    /// What a pass would do for `manifest` against the fleet view as it is now: the server-side
    /// diff. Hosts the controller does not watch yet are connected to for this look only.
    public func plan(for manifest: Manifest) async throws -> Plan {
        let catalog = await engine.images.images(for: manifest.templates)
        let fleet = view.snapshot()
        let unknown = manifest.hosts.filter { fleet.hosts[$0.metadata.name] == nil }
        var hosts = Array(fleet.hosts.values)
        if !unknown.isEmpty {
            let extra = await Engine.connect(unknown, with: engine.connector)
            hosts += await extra.observe().hosts.values
            await extra.close()
        }
        return DrovePlan.plan(DrovePlan.DesiredState(manifest: manifest, images: catalog.images), ObservedFleet(hosts: hosts))
    }
}
