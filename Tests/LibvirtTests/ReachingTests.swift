import Foundation
import Testing
@testable import Libvirt

/// Reaching a VM through the binding, against `test:///default`: its addresses (which the test
/// driver makes up, one IPv4 address per interface), and the console and byte downloads it
/// refuses, so their failures are seen to come back cleanly.
@Suite struct ReachingTests {
    func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    func domainXML(_ name: String, mac: String?) -> String {
        let interface = mac.map { "<interface type='network'><mac address='\($0)'/><source network='default'/></interface>" } ?? ""
        return """
            <domain type='test'>
              <name>\(name)</name>
              <memory unit='MiB'>64</memory>
              <vcpu>1</vcpu>
              <os><type arch='x86_64'>hvm</type></os>
              <devices>\(interface)</devices>
            </domain>
            """
    }

    @Test func interfaceAddressesNameTheInterfaceItsMACAndEachAddressWithItsPrefix() async throws {
        let connection = try await Connection.open("test:///default")
        let domain = try await connection.defineDomain(xml: domainXML(uniqueName("addr"), mac: "52:54:00:0d:0e:0f"))
        try await domain.start()
        for source in [AddressSource.lease, .agent, .arp] {
            let interfaces = try await domain.interfaceAddresses(source: source)
            #expect(interfaces.count == 1, "\(source)")
            let interface = try #require(interfaces.first)
            #expect(!interface.name.isEmpty)
            #expect(interface.mac == "52:54:00:0d:0e:0f")
            let address = try #require(interface.addresses.first)
            #expect(interface.addresses.count == 1)
            #expect(address.family == .ipv4)
            #expect(address.prefix == 24)
            // The test driver counts its addresses up from 192.168.122.x across every domain this
            // process started in it, so the third octet depends on how many tests ran before.
            let octets = address.address.split(separator: ".").compactMap { UInt8($0) }
            #expect(octets.count == 4 && octets[0] == 192 && octets[1] == 168, "\(address.address)")
        }
        try await domain.destroy()
        try await domain.undefine()
        await connection.close()
    }

    @Test func aDomainWithoutInterfacesHasNoAddressesAndAStoppedOneIsRefused() async throws {
        let connection = try await Connection.open("test:///default")
        let bare = try await connection.defineDomain(xml: domainXML(uniqueName("bare"), mac: nil))
        try await bare.start()
        #expect(try await bare.interfaceAddresses(source: .lease).isEmpty)
        try await bare.destroy()
        let error = try await #require(throws: LibvirtError.self) { try await bare.interfaceAddresses(source: .lease) }
        #expect(error.operation == "virDomainInterfaceAddresses")
        #expect(error.isOperationInvalid)
        try await bare.undefine()
        await connection.close()
    }

    @Test func consoleAndDownloadAreRefusedByTheTestDriverWithTheCallNamed() async throws {
        let connection = try await Connection.open("test:///default")
        let domain = try await connection.defineDomain(xml: domainXML(uniqueName("console"), mac: nil))
        try await domain.start()
        let consoleError = try await #require(throws: LibvirtError.self) { try await domain.openConsole() }
        #expect(consoleError.operation == "virDomainOpenConsole")
        #expect(consoleError.isUnsupported)
        try await domain.destroy()
        try await domain.undefine()

        let pool = try #require(try await connection.storagePool(named: "default-pool"))
        let volume = try await pool.createVolume(xml: "<volume><name>\(uniqueName("log")).log</name><capacity>0</capacity></volume>")
        let downloadError = try await #require(throws: LibvirtError.self) { try await volume.download(offset: 0) }
        #expect(downloadError.operation == "virStorageVolDownload")
        #expect(downloadError.isUnsupported)
        try await volume.delete()
        await connection.close()
    }
}
