import CLibvirt
import Foundation

/// Where libvirt learns a domain's addresses (`virDomainInterfaceAddressesSource`).
public enum AddressSource: Sendable, Equatable {
    /// The DHCP leases of the libvirt network the interface is on.
    case lease
    /// The QEMU guest agent, asked inside the guest.
    case agent
    /// The host's ARP table.
    case arp

    var raw: UInt32 {
        switch self {
        case .lease: VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE.rawValue
        case .agent: VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT.rawValue
        case .arp: VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP.rawValue
        }
    }
}

/// One network interface of a domain with the addresses libvirt knows for it.
public struct DomainInterface: Sendable, Equatable {
    /// The interface's name: the host-side device (`vnet0`) for leases and ARP, the guest's
    /// own (`eth0`) for the agent.
    public let name: String
    /// The MAC address, when the source gives one.
    public let mac: String?
    public let addresses: [InterfaceAddress]
}

public struct InterfaceAddress: Sendable, Equatable {
    public enum Family: Sendable, Equatable { case ipv4, ipv6 }

    public let family: Family
    public let address: String
    public let prefix: Int
}

extension Domain {
    /// The domain's interfaces and their addresses as `source` knows them
    /// (`virDomainInterfaceAddresses`). The structs libvirt returns are copied and freed here.
    public func interfaceAddresses(source: AddressSource) async throws -> [DomainInterface] {
        let subject = self.subject
        return try await call { raw in
            var list: UnsafeMutablePointer<virDomainInterfacePtr?>?
            let count = virDomainInterfaceAddresses(raw, &list, source.raw, 0)
            if count < 0 { throw LibvirtError.last("virDomainInterfaceAddresses", object: subject) }
            defer {
                (0..<Int(count)).forEach { index in list?[index].map(virDomainInterfaceFree) }
                free(list)
            }
            return (0..<Int(count)).compactMap { index in list?[index].map { DomainInterface($0.pointee) } }
        }
    }
}

extension DomainInterface {
    init(_ raw: virDomainInterface) {
        name = raw.name.map { String(cString: $0) } ?? ""
        mac = raw.hwaddr.map { String(cString: $0) }
        addresses = (0..<Int(raw.naddrs)).compactMap { index in
            guard let entry = raw.addrs?[index], let address = entry.addr else { return nil }
            let family: InterfaceAddress.Family = entry.type == Int32(VIR_IP_ADDR_TYPE_IPV6.rawValue) ? .ipv6 : .ipv4
            return InterfaceAddress(family: family, address: String(cString: address), prefix: Int(entry.prefix))
        }
    }
}
