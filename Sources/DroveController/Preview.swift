import DroveEngine
import DroveManifest
import DrovePlan

extension Controller {
    /// What a pass would do for `manifest` against the fleet as it is now: the server-side
    /// diff. Hosts the controller does not watch yet are connected to for this look only.
    public func plan(for manifest: Manifest) async throws -> Plan {
        let catalog = await images.images(for: manifest.templates, allowed: options.policy.templateFiles)
        var connections = fleet.connections()
        let unknown = manifest.hosts.filter { connections.drivers[$0.metadata.name] == nil }
        let extra = await FleetConnections.connect(unknown)
        connections.drivers.merge(extra.drivers) { current, _ in current }
        for (name, reason) in extra.unreachable where connections.drivers[name] == nil {
            connections.unreachable[name] = reason
        }
        let observed = await connections.observe()
        await extra.close()
        return DrovePlan.plan(DrovePlan.DesiredState(manifest: manifest, images: catalog.images), observed)
    }
}
