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

    /// Connects to every host at once; a host that does not answer is reported, not fatal.
    public static func connect(_ hosts: [Host]) async -> FleetConnections {
        await withTaskGroup(of: (String, Result<any HostDriver, Error>).self) { group in
            for host in hosts {
                group.addTask {
                    do {
                        let driver = try await LibvirtHost.connect(
                            name: host.metadata.name, uri: host.spec.uri, pool: host.spec.pool, lanes: host.spec.maxParallel)
                        return (host.metadata.name, .success(driver))
                    } catch {
                        return (host.metadata.name, .failure(error))
                    }
                }
            }
            var connections = FleetConnections(drivers: [:])
            for await (name, result) in group {
                switch result {
                case let .success(driver): connections.drivers[name] = driver
                case let .failure(error): connections.unreachable[name] = String(describing: error)
                }
            }
            return connections
        }
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
