import DroveManifest
import Libvirt

extension LibvirtHost {
    /// Checks once per connection what every VM start needs, so one misfit host is named once
    /// (as its Host's conditions) instead of failing each VM: its pool exists, is active and is
    /// a directory (console logs are files in it), the domain type it is asked for is offered,
    /// and every network it declares exists and is active.
    public func check(_ host: Host) async -> [String] {
        var problems: [String] = []
        do {
            if let pool = try await connection.storagePool(named: poolName) {
                if try await !pool.info().isRunning {
                    problems.append("storage pool \(poolName) is not active")
                }
                var type = "?"
                XMLScan.elements(of: try await pool.xml()) { if $0.path.isEmpty { type = $0.attributes["type"] ?? "?" } }
                if !["dir", "fs", "netfs"].contains(type) {
                    problems.append("storage pool \(poolName) is of type \(type); console logs need a directory pool (dir, fs or netfs)")
                }
            } else {
                problems.append("no storage pool \(poolName)")
            }
            let capabilities = try await connection.capabilities()
            switch host.spec.domainType {
            case .kvm where !capabilities.offers("kvm"): problems.append("domain type kvm is not offered (no /dev/kvm?)")
            case .qemu where !capabilities.offers("qemu"): problems.append("domain type qemu is not offered")
            case .auto where !capabilities.offers("kvm") && !capabilities.offers("qemu"): problems.append("neither kvm nor qemu is offered")
            default: break
            }
            for network in host.spec.networks {
                if let found = try await connection.network(named: network) {
                    if try await !found.isActive() { problems.append("network \(network) is not active") }
                } else {
                    problems.append("network \(network) does not exist")
                }
            }
        } catch {
            problems.append("checking failed: \(error)")
        }
        return problems
    }
}
