import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import DroveHost
import Libvirt

@Suite struct DomainDefinitionTests {
    func definition(name: String, type: String = "qemu") -> DomainDefinition {
        DomainDefinition(
            name: name, domainType: type, vcpus: 2, memoryBytes: 96 << 20, cpuMode: .default,
            diskPath: "/pool/drove-vm-\(name).qcow2", diskFormat: "qcow2", network: .user(model: "virtio"),
            metadata: VMMetadata(set: "web", ordinal: 3, specHash: "0123abcd", templateDigest: "sha256-feed", volume: "drove-vm-\(name).qcow2",
                                  vcpus: 2, memoryBytes: 96 << 20))
    }

    @Test func carriesWhatTheVMNeeds() throws {
        let xml = definition(name: "web-3").xml()
        let document = try XMLDocument(xmlString: xml)
        func value(_ path: String) throws -> String? { try document.nodes(forXPath: path).first?.stringValue }
        #expect(try value("/domain/@type") == "qemu")
        #expect(try value("/domain/name") == "web-3")
        #expect(try value("/domain/memory") == String(96 * 1024))
        #expect(try value("/domain/vcpu") == "2")
        #expect(try value("/domain/devices/disk/driver/@type") == "qcow2")
        #expect(try value("/domain/devices/disk/source/@file") == "/pool/drove-vm-web-3.qcow2")
        #expect(try value("/domain/devices/interface/@type") == "user")
        #expect(try value("/domain/devices/graphics/@listen") == "127.0.0.1")
        #expect(try value("/domain/devices/serial/@type") == "pty")
        #expect(try document.nodes(forXPath: "/domain/cpu").isEmpty)
    }

    @Test func valuesCannotInjectMarkup() throws {
        var hostile = definition(name: "x")
        hostile.name = "a</name><devices><disk/></devices><name>b"
        hostile.diskPath = "/p'/><source file='/etc/shadow"
        let document = try XMLDocument(xmlString: hostile.xml())
        #expect(try document.nodes(forXPath: "/domain/name").first?.stringValue == hostile.name)
        #expect(try document.nodes(forXPath: "/domain/devices/disk/source/@file").first?.stringValue == hostile.diskPath)
        #expect(try document.nodes(forXPath: "/domain/devices/disk").count == 1)
    }

    @Test func cpuModeAndNetworksAreRendered() throws {
        var spec = definition(name: "n")
        spec.cpuMode = .hostPassthrough
        spec.network = .bridge(name: "br0", model: "e1000")
        let document = try XMLDocument(xmlString: spec.xml())
        #expect(try document.nodes(forXPath: "/domain/cpu/@mode").first?.stringValue == "host-passthrough")
        #expect(try document.nodes(forXPath: "/domain/devices/interface/source/@bridge").first?.stringValue == "br0")
        #expect(try document.nodes(forXPath: "/domain/devices/interface/model/@type").first?.stringValue == "e1000")
    }

    @Test func libvirtAcceptsItAndTheMetadataReadsBack() async throws {
        let connection = try await Connection.open("test:///default")
        let name = "def-\(UUID().uuidString.prefix(8).lowercased())"
        let spec = definition(name: name, type: "test")
        let domain = try await connection.defineDomain(xml: spec.xml())
        let stored = try #require(try await domain.metadata(namespace: VMMetadata.namespace))
        #expect(VMMetadata(xml: stored) == spec.metadata)
        try await domain.undefine()
        await connection.close()
    }

    @Test func aSnapshotReadsOwnershipAndAgentStateFromOneXML() {
        let spec = definition(name: "web-3")
        let defined = DomainSnapshot(xml: spec.xml())
        #expect(defined.metadata == spec.metadata)
        #expect(defined.agentConnected == nil)
        let live = spec.xml().replacingOccurrences(of: "name=\"org.qemu.guest_agent.0\"",
                                                   with: "name=\"org.qemu.guest_agent.0\" state=\"connected\"")
        #expect(DomainSnapshot(xml: live).agentConnected == true)
        let foreign = DomainSnapshot(xml: "<domain type='kvm'><name>x</name><metadata><vm xmlns='urn:other' set='a'/></metadata></domain>")
        #expect(foreign.metadata == nil)
    }

    @Test func metadataOfSomethingElseIsNotOurs() {
        #expect(VMMetadata(xml: "<vm set='web'/>") == nil)
        #expect(VMMetadata(xml: "not xml") == nil)
    }

    @Test("a live domain's XML gives its record, whether it runs, and its agent channel's state")
    func snapshotOfLiveXML() {
        let record = VMMetadata(set: "web", ordinal: 3, specHash: "h", templateDigest: "d", volume: "drove-vm-web-3.qcow2",
                                vcpus: 1, memoryBytes: 96 << 20)
        let running = """
            <domain type='qemu' id='7'><name>web-3</name>
              <metadata><drove:vm xmlns:drove='urn:drove:vm:v1' set='web' ordinal='3' spec='h' template='d' volume='drove-vm-web-3.qcow2' vcpus='1' memory='100663296'/></metadata>
              <devices><channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel></devices>
            </domain>
            """
        let snapshot = DomainSnapshot(xml: running)
        #expect(snapshot.metadata == record)
        #expect(snapshot.isRunning)
        #expect(snapshot.agentConnected == true)

        let stopped = DomainSnapshot(xml: "<domain type='qemu'><name>x</name><metadata><other:vm xmlns:other='urn:else' set='web'/></metadata></domain>")
        #expect(stopped.metadata == nil && !stopped.isRunning && stopped.agentConnected == nil)
        #expect(VMMetadata(xml: record.xml()) == record)
    }
}
