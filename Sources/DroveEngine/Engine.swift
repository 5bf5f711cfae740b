import DroveHost
import DroveManifest
import DrovePlan

/// Makes a `HostDriver` for a Host object: libvirt for real, an in-memory host in tests.
public protocol HostConnector: Sendable {
    func connect(_ host: Host) async throws -> any HostDriver
}

/// Connects through libvirt, with one lane thread more than the host's `maxParallel`, so that
/// observing never waits behind actions (see `HostLimits.lanes`).
public struct LibvirtConnector: HostConnector {
    public init() {}

    public func connect(_ host: Host) async throws -> any HostDriver {
        try await LibvirtHost.connect(name: host.metadata.name, uri: host.spec.uri, pool: host.spec.pool,
                                      lanes: HostLimits(host).lanes)
    }
}

/// A template copy in flight: one host, one digest.
public struct CopyKey: Hashable, Sendable {
    public var host: String
    public var digest: String

    public init(host: String, digest: String) {
        self.host = host
        self.digest = digest
    }
}

/// What every part of Drove that deploys shares, made once per process: template images,
/// host connections, the host slots that enforce `maxParallel`/`maxTransfers` across every
/// plan being carried out, and single-flight template copies. `drove up`, the controller and
/// drove-bench all deploy through one of these.
public final class Engine: Sendable {
    public let connector: any HostConnector
    public let limits: ExecutionLimits
    public let images: TemplateImages
    public let slots: HostSlots
    public let copies = SingleFlight<CopyKey>()
    public let boots = BootGate()

    public init(connector: any HostConnector = LibvirtConnector(), limits: ExecutionLimits = ExecutionLimits(),
                templateFiles: ManifestPolicy.FileRule = .anywhere) {
        self.connector = connector
        self.limits = limits
        images = TemplateImages(allowed: templateFiles)
        slots = HostSlots(global: limits.global)
    }

    /// Takes the hosts' limits (call whenever Host objects change).
    public func configure(_ hosts: [Host]) {
        slots.update(hosts)
        boots.configure(hosts: hosts)
    }

    /// Takes the hosts' limits and connects to every host at once; a host that does not answer
    /// is reported, not fatal.
    public func connect(_ hosts: [Host]) async -> FleetConnections {
        configure(hosts)
        return await Self.connect(hosts, with: connector)
    }

    /// Connects to every host at once, leaving the engine's limits alone (a look, not a deployment).
    public static func connect(_ hosts: [Host], with connector: any HostConnector) async -> FleetConnections {
        await withTaskGroup(of: (String, Result<any HostDriver, any Error>).self) { group in
            for host in hosts {
                group.addTask { [connector] in
                    do {
                        return (host.metadata.name, .success(try await connector.connect(host)))
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

    /// An executor over `drivers` that shares this engine's slots and copies.
    public func executor(_ drivers: [String: any HostDriver]) -> Executor {
        Executor(hosts: drivers, engine: self)
    }
}
