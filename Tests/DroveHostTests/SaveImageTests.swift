import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import DroveHost

/// The save image header and the clone's XML, on synthetic headers laid out by hand as libvirt
/// 9.0 writes them (src/qemu/qemu_saveimage.c), and on one captured from a lab host.
@Suite struct SaveImageTests {
    static func le(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// A header as libvirt lays it out: XML, NUL, cookie, NUL, padding to `dataLength`.
    static func synthetic(xml: String, cookie: String?, dataLength: UInt32, magic: String = "LibvirtQemudSave",
                          version: UInt32 = 2) -> [UInt8] {
        var data = Array(xml.utf8) + [0]
        let cookieOffset = cookie == nil ? 0 : UInt32(data.count)
        if let cookie { data += Array(cookie.utf8) + [0] }
        data += [UInt8](repeating: 0, count: Int(dataLength) - data.count)
        let words: [UInt32] = [version, dataLength, 1, 0, cookieOffset] + [UInt32](repeating: 0, count: 14)
        return Array(magic.utf8) + words.flatMap(le) + data
    }

    static let goldenXML = """
        <domain type="qemu">
          <name>golden-tiny</name>
          <uuid>11111111-2222-3333-4444-555555555555</uuid>
          <genid>aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee</genid>
          <metadata>
            <other:thing xmlns:other="urn:other">kept</other:thing>
            <drove:vm xmlns:drove="urn:drove:vm:v1" set="golden" ordinal="0" spec="s" template="t" volume="golden.qcow2" vcpus="1" memory="100663296"/>
          </metadata>
          <memory unit="KiB">98304</memory>
          <devices>
            <disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/pool/golden.qcow2"/><target dev="vda" bus="virtio"/></disk>
            <disk type="file" device="cdrom"><driver name="qemu" type="raw"/><source file="/pool/golden-seed.iso"/><target dev="hdc" bus="ide"/><readonly/></disk>
            <interface type="network"><mac address="52:54:00:00:00:01"/><source network="drove-lab"/><model type="virtio"/></interface>
            <interface type="network"><mac address="52:54:00:00:00:02"/><source network="drove-lab"/><model type="virtio"/></interface>
            <serial type="pty"><log file="/pool/golden.log" append="on"/><target port="0"/></serial>
            <console type="pty"><log file="/pool/golden.log" append="on"/><target type="serial" port="0"/></console>
          </devices>
        </domain>
        """
    static let cookie = "<cookie>\n  <cpu mode='custom'/>\n</cookie>\n"

    static var identity: CloneIdentity {
        CloneIdentity(name: "web-7", uuid: "99999999-8888-7777-6666-555555555555",
                      macs: ["52:54:00:aa:00:07", "52:54:00:bb:00:07"], diskPath: "/pool/web-7.qcow2",
                      seedPath: "/pool/web-7-seed.iso", consoleLogPath: "/pool/web-7.log",
                      metadata: VMMetadata(set: "web", ordinal: 7, specHash: "spec", templateDigest: "digest",
                                           volume: "web-7.qcow2", vcpus: 1, memoryBytes: 96 << 20),
                      genid: "12345678-1234-1234-1234-123456789abc")
    }

    @Test func parsesXMLCookieAndLengths() throws {
        let bytes = Self.synthetic(xml: Self.goldenXML, cookie: Self.cookie, dataLength: 8192) + [0xAB, 0xCD] // stream follows
        let header = try SaveImageHeader(parsing: bytes)
        #expect(header.version == 2)
        #expect(header.dataLength == 8192)
        #expect(header.wasRunning == 1)
        #expect(header.compressed == 0)
        #expect(header.cookieOffset == UInt32(Self.goldenXML.utf8.count + 1))
        #expect(header.xml == Self.goldenXML)
        #expect(header.cookie == Self.cookie)
        #expect(header.totalBytes == 92 + 8192)
        #expect(header.slack == 8192 - Self.goldenXML.utf8.count - 1 - Self.cookie.utf8.count - 1)
        // Unchanged, the header comes back byte for byte.
        #expect(try header.bytes() == Array(bytes.prefix(header.totalBytes)))
    }

    @Test func aRewriteKeepsTheLengthAndMovesTheCookie() throws {
        let bytes = Self.synthetic(xml: Self.goldenXML, cookie: Self.cookie, dataLength: 8192)
        let header = try SaveImageHeader(parsing: bytes)
        let longer = Self.goldenXML.replacingOccurrences(of: "golden-tiny", with: "a-much-longer-name-for-the-clone")
        let (rewritten, out) = try header.rewritten(xml: longer)
        #expect(out.count == bytes.count)
        #expect(Array(out.prefix(16)) == Array("LibvirtQemudSave".utf8))
        #expect(rewritten.cookieOffset == UInt32(longer.utf8.count + 1))
        let reparsed = try SaveImageHeader(parsing: out)
        #expect(reparsed.xml == longer)
        #expect(reparsed.cookie == Self.cookie)
        #expect(reparsed.dataLength == 8192)
        #expect(reparsed.wasRunning == 1)
        // Shorter XML: the rest is NUL padding, nothing of the old XML is left behind.
        let (_, shorter) = try header.rewritten(xml: "<domain/>")
        #expect(shorter.count == bytes.count)
        #expect(try SaveImageHeader(parsing: shorter).xml == "<domain/>")
        #expect(shorter[(92 + 10 + Self.cookie.utf8.count + 1)...].allSatisfy { $0 == 0 })
    }

    @Test func withoutACookieTheXMLOwnsTheData() throws {
        let header = try SaveImageHeader(parsing: Self.synthetic(xml: "<domain/>", cookie: nil, dataLength: 1024))
        #expect(header.cookie == nil)
        let (rewritten, out) = try header.rewritten(xml: "<domain><name>x</name></domain>")
        #expect(rewritten.cookieOffset == 0)
        #expect(out.count == 92 + 1024)
        #expect(try SaveImageHeader(parsing: out).xml == "<domain><name>x</name></domain>")
    }

    @Test func anXMLThatDoesNotFitIsAClearError() throws {
        let header = try SaveImageHeader(parsing: Self.synthetic(xml: "<domain/>", cookie: "<cookie/>", dataLength: 64))
        let big = "<domain>" + String(repeating: " ", count: 60) + "</domain>"
        #expect(throws: SaveImageError.doesNotFit(need: big.utf8.count + 1 + 10, have: 64)) {
            try header.rewritten(xml: big)
        }
        #expect(SaveImageError.doesNotFit(need: 80, have: 64).description.contains("more than the 64"))
    }

    @Test func partialForeignShortAndOddHeadersAreRefused() throws {
        let good = Self.synthetic(xml: "<domain/>", cookie: nil, dataLength: 1024)
        #expect(throws: SaveImageError.partial) {
            try SaveImageHeader(parsing: Self.synthetic(xml: "<domain/>", cookie: nil, dataLength: 1024, magic: "LibvirtQemudPart"))
        }
        #expect(throws: SaveImageError.notASaveImage) {
            try SaveImageHeader(parsing: Self.synthetic(xml: "<domain/>", cookie: nil, dataLength: 1024, magic: "QEVM-not-libvirt"))
        }
        #expect(throws: SaveImageError.truncated(have: 50, need: 92)) { try SaveImageHeader(parsing: Array(good.prefix(50))) }
        #expect(throws: SaveImageError.truncated(have: 500, need: 92 + 1024)) { try SaveImageHeader(parsing: Array(good.prefix(500))) }
        #expect(throws: SaveImageError.unsupportedVersion(3)) {
            try SaveImageHeader(parsing: Self.synthetic(xml: "<domain/>", cookie: nil, dataLength: 1024, version: 3))
        }
    }

    @Test func theCloneXMLCarriesEveryPartOfTheIdentity() throws {
        let xml = try CloneXML.rewrite(Self.goldenXML, to: Self.identity)
        let document = try XMLDocument(xmlString: xml)
        func values(_ path: String) throws -> [String] { try document.nodes(forXPath: path).compactMap(\.stringValue) }
        #expect(try values("/domain/name") == ["web-7"])
        #expect(try values("/domain/uuid") == ["99999999-8888-7777-6666-555555555555"])
        #expect(try values("/domain/genid") == ["12345678-1234-1234-1234-123456789abc"])
        #expect(try values("/domain/devices/interface/mac/@address") == ["52:54:00:aa:00:07", "52:54:00:bb:00:07"])
        #expect(try values("/domain/devices/disk[target/@dev='vda']/source/@file") == ["/pool/web-7.qcow2"])
        #expect(try values("/domain/devices/disk[target/@dev='hdc']/source/@file") == ["/pool/web-7-seed.iso"])
        #expect(try values("/domain/devices/serial/log/@file") == ["/pool/web-7.log"])
        #expect(try values("/domain/devices/console/log/@file") == ["/pool/web-7.log"])
        #expect(try values("/domain/memory") == ["98304"])
        #expect(!xml.contains("golden"))
        #expect(xml.contains("kept"), "metadata of others stays")
        let metadata = try #require(XMLScanMetadata.drove(in: xml))
        #expect(metadata == Self.identity.metadata)
        // And it fits the golden's header.
        let header = try SaveImageHeader(parsing: Self.synthetic(xml: Self.goldenXML, cookie: Self.cookie, dataLength: 4096))
        #expect(try SaveImageHeader(parsing: header.rewritten(xml: xml).bytes).xml == xml)
    }

    /// A header captured from a lab host (libvirt 9.0.0, QEMU 7.2.22: the tiny guest saved as a
    /// golden), stored without its trailing zero padding; data_len was 68848.
    static func capturedHeader() throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/libvirt-9.0-qemu-7.2-save-header.bin")
        let stored = [UInt8](try Data(contentsOf: url))
        return stored + [UInt8](repeating: 0, count: 92 + 68848 - stored.count)
    }

    @Test func aRealHeaderParsesRoundTripsAndTakesACloneIdentity() throws {
        let bytes = try Self.capturedHeader()
        let header = try SaveImageHeader(parsing: bytes)
        #expect(header.version == 2)
        #expect(header.dataLength == 68848)
        #expect(header.wasRunning == 1)
        #expect(header.compressed == 0)
        #expect(header.cookieOffset == 3076)
        #expect(header.xml.hasPrefix("<domain type='qemu'>"))
        #expect(header.xml.utf8.count + 1 == 3076)
        #expect(header.cookie?.hasPrefix("<cookie>") == true)
        #expect(header.slack > 60_000)
        #expect(try header.bytes() == bytes)

        let xml = try CloneXML.rewrite(header.xml, to: CloneIdentity(
            name: "web-1", uuid: "99999999-8888-7777-6666-555555555555", macs: ["52:54:00:aa:bb:cc"],
            diskPath: "/pool/web-1.qcow2", seedPath: "/pool/web-1.seed.iso", consoleLogPath: "/pool/web-1.console.log",
            metadata: Self.identity.metadata, genid: "12345678-1234-1234-1234-123456789abc"))
        let (rewritten, out) = try header.rewritten(xml: xml)
        #expect(out.count == bytes.count)
        let reparsed = try SaveImageHeader(parsing: out)
        #expect(reparsed.cookie == header.cookie)
        #expect(reparsed.cookieOffset == rewritten.cookieOffset)
        let document = try XMLDocument(xmlString: reparsed.xml)
        func values(_ path: String) throws -> [String] { try document.nodes(forXPath: path).compactMap(\.stringValue) }
        #expect(try values("/domain/name") == ["web-1"])
        #expect(try values("/domain/uuid") == ["99999999-8888-7777-6666-555555555555"])
        #expect(try values("/domain/genid") == ["12345678-1234-1234-1234-123456789abc"])
        #expect(try values("/domain/devices/interface/mac/@address") == ["52:54:00:aa:bb:cc"])
        #expect(try values("/domain/devices/disk[target/@dev='vda']/source/@file") == ["/pool/web-1.qcow2"])
        #expect(try values("/domain/devices/disk[target/@dev='hdc']/source/@file") == ["/pool/web-1.seed.iso"])
        #expect(try values("/domain/devices/serial/log/@file") == ["/pool/web-1.console.log"])
        #expect(try values("/domain/devices/console/log/@file") == ["/pool/web-1.console.log"])
        #expect(try values("/domain/devices/channel/target/@name") == ["org.qemu.guest_agent.0", "org.drove.identity.0"])
        #expect(!reparsed.xml.contains("golden"))
    }

    @Test func aGoldenWithoutGenidOrUUIDGetsThem() throws {
        let bare = Self.goldenXML
            .replacingOccurrences(of: "<uuid>11111111-2222-3333-4444-555555555555</uuid>", with: "")
            .replacingOccurrences(of: "<genid>aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee</genid>", with: "")
        let document = try XMLDocument(xmlString: try CloneXML.rewrite(bare, to: Self.identity))
        #expect(try document.nodes(forXPath: "/domain/uuid").first?.stringValue == Self.identity.uuid)
        #expect(try document.nodes(forXPath: "/domain/genid").first?.stringValue == Self.identity.genid)
    }

    @Test func withoutAGenidTheGoldensIsLeftAlone() throws {
        var identity = Self.identity
        identity.genid = nil
        let document = try XMLDocument(xmlString: try CloneXML.rewrite(Self.goldenXML, to: identity))
        #expect(try document.nodes(forXPath: "/domain/genid").first?.stringValue == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
        let bare = Self.goldenXML.replacingOccurrences(of: "<genid>aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee</genid>", with: "")
        #expect(try XMLDocument(xmlString: try CloneXML.rewrite(bare, to: identity)).nodes(forXPath: "/domain/genid").isEmpty)
    }

    @Test func mismatchesAreRefused() throws {
        var identity = Self.identity
        identity.macs = ["52:54:00:aa:00:07"]
        #expect(throws: CloneXMLError.self) { try CloneXML.rewrite(Self.goldenXML, to: identity) }
        identity = Self.identity
        identity.seedPath = nil
        #expect(throws: CloneXMLError.self) { try CloneXML.rewrite(Self.goldenXML, to: identity) }
        identity = Self.identity
        identity.consoleLogPath = nil
        #expect(throws: CloneXMLError.self) { try CloneXML.rewrite(Self.goldenXML, to: identity) }
        #expect(throws: CloneXMLError.self) { try CloneXML.rewrite("<domain><devices/></domain>", to: Self.identity) }
        #expect(throws: CloneXMLError.self) { try CloneXML.rewrite("not xml", to: Self.identity) }
    }
}

/// Reads Drove's metadata element back out of a whole domain XML.
enum XMLScanMetadata {
    static func drove(in xml: String) -> VMMetadata? {
        guard let document = try? XMLDocument(xmlString: xml),
              let element = try? document.nodes(forXPath: "/domain/metadata/*").compactMap({ $0 as? XMLElement })
                  .first(where: { $0.name == "drove:vm" }) else { return nil }
        var attributes: [String: String] = [:]
        for attribute in element.attributes ?? [] {
            if let name = attribute.name, let value = attribute.stringValue { attributes[name] = value }
        }
        return VMMetadata(attributes: attributes)
    }
}
