import CLibvirt
import Foundation

/// A libvirt virtual network on one connection (named apart from a manifest's `Network`). Owns its
/// `virNetworkPtr` and frees it exactly once.
public final class VirtualNetwork: LibvirtObject {
    public let name: String
    let handle: CHandle
    let connection: Connection

    init(adopting raw: OpaquePointer, connection: Connection) {
        handle = CHandle(raw: raw)
        self.connection = connection
        name = virNetworkGetName(raw).map { String(cString: $0) } ?? ""
    }

    deinit {
        virNetworkFree(handle.raw)
    }

    var subject: String { "network \(name)" }

    /// Whether the network runs: its bridge is up and its dnsmasq serves DHCP (`virNetworkIsActive`).
    public func isActive() async throws -> Bool {
        let subject = self.subject
        return try await call { raw in
            let result = virNetworkIsActive(raw)
            if result < 0 { throw LibvirtError.last("virNetworkIsActive", object: subject) }
            return result == 1
        }
    }

    /// Whether the daemon starts the network when it starts (`virNetworkGetAutostart`).
    public func autostart() async throws -> Bool {
        let subject = self.subject
        return try await call { raw in
            var value: Int32 = 0
            if virNetworkGetAutostart(raw, &value) < 0 { throw LibvirtError.last("virNetworkGetAutostart", object: subject) }
            return value != 0
        }
    }

    public func setAutostart(_ on: Bool) async throws {
        try await check("virNetworkSetAutostart", mutating: true) { virNetworkSetAutostart($0, on ? 1 : 0) }
    }

    /// Starts a defined network (`virNetworkCreate`).
    public func start() async throws {
        try await check("virNetworkCreate", mutating: true) { virNetworkCreate($0) }
    }

    public func xml() async throws -> String {
        let subject = self.subject
        return try await call { raw in
            guard let xml = virNetworkGetXMLDesc(raw, 0) else {
                throw LibvirtError.last("virNetworkGetXMLDesc", object: subject)
            }
            defer { free(xml) }
            return String(cString: xml)
        }
    }

    /// The leases the network's DHCP server handed out (`virNetworkGetDHCPLeases`).
    public func dhcpLeases() async throws -> [DHCPLease] {
        let subject = self.subject
        return try await call { raw in
            var list: UnsafeMutablePointer<virNetworkDHCPLeasePtr?>?
            let count = virNetworkGetDHCPLeases(raw, nil, &list, 0)
            if count < 0 { throw LibvirtError.last("virNetworkGetDHCPLeases", object: subject) }
            defer { free(list) }
            return (0..<Int(count)).compactMap { index -> DHCPLease? in
                guard let lease = list?[index] else { return nil }
                defer { virNetworkDHCPLeaseFree(lease) }
                let value = lease.pointee
                return DHCPLease(interface: value.iface.map { String(cString: $0) } ?? "",
                                 mac: value.mac.map { String(cString: $0) } ?? "",
                                 address: value.ipaddr.map { String(cString: $0) } ?? "",
                                 prefix: Int(value.prefix),
                                 hostname: value.hostname.map { String(cString: $0) },
                                 expiryTime: Int64(value.expirytime))
            }
        }
    }
}

/// One DHCP lease of a libvirt network.
public struct DHCPLease: Sendable, Equatable {
    /// The network's bridge.
    public let interface: String
    public let mac: String
    public let address: String
    public let prefix: Int
    public let hostname: String?
    /// Seconds since the epoch.
    public let expiryTime: Int64
}

extension LibvirtError {
    public var isNoNetwork: Bool { code == Int32(VIR_ERR_NO_NETWORK.rawValue) }
}

extension Connection {
    /// The network called `name`, or nil if there is none.
    public func network(named name: String) async throws -> VirtualNetwork? {
        let handle: CHandle? = try await call { conn in
            guard let raw = virNetworkLookupByName(conn, name) else {
                let error = LibvirtError.last("virNetworkLookupByName", object: "network \(name)")
                if error.isNoNetwork { return nil }
                throw error
            }
            return CHandle(raw: raw)
        }
        return handle.map { VirtualNetwork(adopting: $0.raw, connection: self) }
    }

    /// Defines a persistent network from XML (`virNetworkDefineXML`); it still needs `start()`.
    public func defineNetwork(xml: String) async throws -> VirtualNetwork {
        let handle: CHandle = try await call(mutating: "virNetworkDefineXML") { conn in
            guard let raw = virNetworkDefineXML(conn, xml) else { throw LibvirtError.last("virNetworkDefineXML") }
            return CHandle(raw: raw)
        }
        return VirtualNetwork(adopting: handle.raw, connection: self)
    }
}
