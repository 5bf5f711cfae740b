import DroveHost
import DroveManifest
import DrovePlan

/// Connections to the hosts of a manifest, one driver per host that answered.
public struct FleetConnections: Sendable {
    public var drivers: [String: any HostDriver]
    /// Hosts that could not be connected to, with libvirt's reason.
    public var unreachable: [String: String]

    public init(drivers: [String: any HostDriver], unreachable: [String: String] = [:]) {
        self.drivers = drivers
        self.unreachable = unreachable
    }

    /// Observes every host at once.
    public func observe() async -> ObservedFleet {
        let observed = await withTaskGroup(of: ObservedHost.self) { group in
            for driver in drivers.values {
                group.addTask { await driver.observe() }
            }
            var hosts: [ObservedHost] = []
            for await host in group { hosts.append(host) }
            return hosts
        }
        return ObservedFleet(hosts: observed + unreachable.map { ObservedHost(name: $0.key, unreachable: $0.value) })
    }

    public func close() async {
        for driver in drivers.values { await driver.close() }
    }
}
