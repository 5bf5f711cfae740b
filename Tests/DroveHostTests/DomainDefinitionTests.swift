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
            diskPath: "/pool/drove-vm-\(name).qcow2", diskFormat: "qcow2",
            interfaces: [.init(attachment: .user, mac: "52:00:00:00:00:03")],
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
        #expect(try value("/domain/devices/interface/mac/@address") == "52:00:00:00:00:03")
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
        spec.interfaces = [.init(attachment: .network("lab"), mac: "52:00:00:00:00:0a"),
                           .init(attachment: .bridge("br0"), model: "e1000", mac: "52:00:00:00:00:0b")]
        let document = try XMLDocument(xmlString: spec.xml())
        func values(_ path: String) throws -> [String] { try document.nodes(forXPath: path).compactMap(\.stringValue) }
        #expect(try values("/domain/cpu/@mode") == ["host-passthrough"])
        #expect(try values("/domain/devices/interface/@type") == ["network", "bridge"])
        #expect(try values("/domain/devices/interface/source/@network") == ["lab"])
        #expect(try values("/domain/devices/interface/source/@bridge") == ["br0"])
        #expect(try values("/domain/devices/interface/model/@type") == ["virtio", "e1000"])
        #expect(try values("/domain/devices/interface/mac/@address") == ["52:00:00:00:00:0a", "52:00:00:00:00:0b"])
        let snapshot = DomainSnapshot(xml: spec.xml())
        #expect(snapshot.interfaces.map(\.type) == ["network", "bridge"])
        #expect(snapshot.interfaces.map(\.mac) == ["52:00:00:00:00:0a", "52:00:00:00:00:0b"])
    }

    @Test("the device model is lean: no USB, graphics, video, sound, tablet or balloon")
    func leanDeviceModel() throws {
        let document = try XMLDocument(xmlString: definition(name: "lean").xml())
        func count(_ path: String) throws -> Int { try document.nodes(forXPath: path).count }
        #expect(try document.nodes(forXPath: "/domain/devices/controller[@type='usb']/@model").first?.stringValue == "none")
        #expect(try document.nodes(forXPath: "/domain/devices/memballoon/@model").first?.stringValue == "none")
        #expect(try count("/domain/devices/graphics") == 0 && count("/domain/devices/video") == 0)
        #expect(try count("/domain/devices/sound") == 0 && count("/domain/devices/input") == 0)
    }

    @Test("the seed is a read-only CD-ROM and the console is logged where asked")
    func seedAndConsoleLog() throws {
        var spec = definition(name: "s")
        spec.seedPath = "/pool/drove-vm-s.seed.iso"
        spec.consoleLogPath = "/pool/drove-vm-s.console.log"
        let document = try XMLDocument(xmlString: spec.xml())
        let cdrom = try #require(try document.nodes(forXPath: "/domain/devices/disk[@device='cdrom']").first as? XMLElement)
        #expect(cdrom.elements(forName: "source").first?.attribute(forName: "file")?.stringValue == spec.seedPath)
        #expect(cdrom.elements(forName: "readonly").count == 1)
        #expect(try document.nodes(forXPath: "/domain/devices/serial/log/@file").first?.stringValue == spec.consoleLogPath)
        #expect(try document.nodes(forXPath: "/domain/devices/disk[@device='cdrom']").count == 1)
        #expect(try XMLDocument(xmlString: definition(name: "t").xml()).nodes(forXPath: "/domain/devices/disk[@device='cdrom']").isEmpty)
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

@Suite struct GoldenDefinitionTests {
    @Test func genidAndTheIdentityChannelAreRenderedOnlyWhenAsked() throws {
        var spec = DomainDefinition(
            name: "golden", domainType: "qemu", vcpus: 1, memoryBytes: 96 << 20, cpuMode: .default,
            diskPath: "/pool/golden.qcow2", diskFormat: "qcow2", interfaces: [.init(attachment: .user, mac: "52:00:00:00:00:01")],
            metadata: VMMetadata(set: "g", ordinal: 0, specHash: "s", templateDigest: "t", volume: "golden.qcow2", vcpus: 1, memoryBytes: 96 << 20))
        var document = try XMLDocument(xmlString: spec.xml())
        #expect(try document.nodes(forXPath: "/domain/genid").isEmpty)
        #expect(try document.nodes(forXPath: "/domain/devices/channel/target/@name").compactMap(\.stringValue) == ["org.qemu.guest_agent.0"])

        spec.genid = "12345678-1234-1234-1234-123456789abc"
        spec.identityChannel = true
        document = try XMLDocument(xmlString: spec.xml())
        #expect(try document.nodes(forXPath: "/domain/genid").first?.stringValue == "12345678-1234-1234-1234-123456789abc")
        #expect(try document.nodes(forXPath: "/domain/devices/channel/target/@name").compactMap(\.stringValue)
            == ["org.qemu.guest_agent.0", "org.drove.identity.0"])
        #expect(try document.nodes(forXPath: "/domain/devices/channel[target/@name='org.drove.identity.0']/@type").first?.stringValue == "unix")
    }
}
