import Libvirt

/// What the lab asks a host's libvirtd, always through the binding and always under a deadline:
/// a wedged daemon must not hang `up`, `status` or `down`.
enum LabLibvirt {
    /// Opens `uri`, runs `body`, closes the connection, all within `timeout`.
    static func withConnection<T: Sendable>(
        _ uri: String, timeout: Duration,
        _ body: @escaping @Sendable (Connection) async throws -> T
    ) async throws -> T {
        try await withDeadline(timeout) {
            let connection = try await Connection.open(uri, lanes: 1)
            do {
                let result = try await body(connection)
                await connection.close()
                return result
            } catch {
                await connection.close()
                throw error
            }
        }
    }

    /// Succeeds once the host answers and its `default` pool is running.
    static func probe(_ uri: String, timeout: Duration) async throws {
        try await withConnection(uri, timeout: timeout) { connection in
            _ = try await connection.nodeInfo()
            guard let pool = try await connection.storagePool(named: "default") else {
                throw LabProbeError.poolMissing
            }
            guard try await pool.info().isRunning else { throw LabProbeError.poolNotRunning }
        }
    }

    /// Makes sure host `index` has the `drove-lab` network, defined (persistent), set to
    /// autostart and running. A network already defined is kept as it is (its UUID, its leases).
    /// Returns whether anything had to be done.
    @discardableResult
    static func ensureNetwork(_ uri: String, index: Int, timeout: Duration) async throws -> Bool {
        try await withConnection(uri, timeout: timeout) { connection in
            var changed = false
            let network: VirtualNetwork
            if let existing = try await connection.network(named: LabNetwork.name) {
                network = existing
            } else {
                network = try await connection.defineNetwork(xml: LabNetwork.xml(index: index))
                changed = true
            }
            if try await !network.autostart() {
                try await network.setAutostart(true)
                changed = true
            }
            if try await !network.isActive() {
                try await network.start()
                changed = true
            }
            return changed
        }
    }

    struct Counts: Sendable {
        var running = 0
        var defined = 0
        var poolAvailable: UInt64?
        /// Whether the `drove-lab` network runs; nil when it is not defined.
        var networkActive: Bool?
    }

    static func counts(_ uri: String, timeout: Duration) async throws -> Counts {
        try await withConnection(uri, timeout: timeout) { connection in
            var counts = Counts()
            _ = try await connection.nodeInfo()
            let domains = try await connection.listAllDomains()
            counts.defined = domains.count
            for domain in domains {
                if try await domain.isActive() { counts.running += 1 }
            }
            if let pool = try await connection.storagePool(named: "default") {
                counts.poolAvailable = try await pool.info().available
            }
            if let network = try await connection.network(named: LabNetwork.name) {
                counts.networkActive = try await network.isActive()
            }
            return counts
        }
    }

    /// Destroys and undefines every domain on a lab host (all of them are the lab's).
    /// Returns the names removed; a domain that could not be removed is reported and skipped,
    /// since its QEMU is killed by pid and its definition goes with the host's directory.
    static func removeAllDomains(_ uri: String, timeout: Duration) async throws -> (removed: [String], failures: [String]) {
        try await withConnection(uri, timeout: timeout) { connection in
            var removed: [String] = []
            var failures: [String] = []
            for domain in try await connection.listAllDomains() {
                do {
                    if try await domain.isActive() { try await domain.destroy() }
                    try await domain.undefine()
                    removed.append(domain.name)
                } catch {
                    failures.append("\(error)")
                }
            }
            return (removed, failures)
        }
    }
}

enum LabProbeError: Error, CustomStringConvertible {
    case poolMissing, poolNotRunning

    var description: String {
        switch self {
        case .poolMissing: return "the storage pool 'default' is not defined"
        case .poolNotRunning: return "the storage pool 'default' is not running"
        }
    }
}
