import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The header libvirt's QEMU driver writes at the start of a save image (`virQEMUSaveHeader`,
/// src/qemu/qemu_saveimage.h), followed by QEMU's migration stream:
///
///     magic[16]       "LibvirtQemudSave" ("LibvirtQemudPart" while the save is unfinished)
///     uint32 version  2
///     uint32 data_len bytes of data after the 92-byte fixed part
///     uint32 was_running, compressed, cookieOffset, unused[14]   (92 bytes so far)
///     data[data_len]  the domain XML, NUL, then (from cookieOffset) the cookie XML, NUL, then
///                     zero padding (libvirt 9.0 left 64 KiB of it); QEMU's stream starts right
///                     after it.
///
/// Integers are in the host's byte order (little-endian on x86_64). Tested with libvirt 9.0.
/// A clone's identity goes into the XML: libvirt refuses a changed UUID through the restore's
/// `dxml` argument and `virDomainSaveImageDefineXML`, so the header is rewritten in place, the
/// same `data_len` long, so QEMU's stream stays where it was.
public struct SaveImageHeader: Sendable, Equatable {
    public static let magic = Array("LibvirtQemudSave".utf8)
    public static let partialMagic = Array("LibvirtQemudPart".utf8)
    /// The fixed part: magic and 19 uint32s (version 2 took `cookieOffset` from the 15 unused
    /// words of version 1, leaving 14).
    public static let fixedBytes = 92
    /// The version libvirt writes (since 3.x); 1 had no cookie.
    public static let supportedVersions: ClosedRange<UInt32> = 1...2

    public var version: UInt32
    /// How many bytes of XML, cookie and padding follow the fixed part.
    public var dataLength: UInt32
    public var wasRunning: UInt32
    /// Nonzero when QEMU's stream went through a compression program (Drove's never does).
    public var compressed: UInt32
    /// Where the cookie starts within the data; 0 for none.
    public var cookieOffset: UInt32
    public var unused: [UInt32]
    /// The domain XML, as the restore will define the domain.
    public var xml: String
    /// libvirt's save cookie (`<cookie>…</cookie>`: the guest CPU and the like), if any.
    public var cookie: String?

    /// Where QEMU's migration stream begins: the whole header's length.
    public var totalBytes: Int { Self.fixedBytes + Int(dataLength) }

    /// Bytes of padding left for a longer XML.
    public var slack: Int { Int(dataLength) - Self.payload(xml: xml, cookie: cookie).count }

    /// Parses a header from an image's first bytes; `bytes` must hold at least `fixedBytes`,
    /// and then `totalBytes` (`SaveImageError.truncated` says how many are needed).
    public init(parsing bytes: [UInt8]) throws(SaveImageError) {
        guard bytes.count >= Self.fixedBytes else { throw .truncated(have: bytes.count, need: Self.fixedBytes) }
        let magic = Array(bytes[0..<16])
        if magic == Self.partialMagic { throw .partial }
        guard magic == Self.magic else { throw .notASaveImage }
        func word(_ index: Int) -> UInt32 {
            let at = 16 + 4 * index
            return UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        version = word(0)
        dataLength = word(1)
        wasRunning = word(2)
        compressed = word(3)
        cookieOffset = word(4)
        unused = (5..<19).map(word)
        guard Self.supportedVersions.contains(version) else { throw .unsupportedVersion(version) }
        guard dataLength > 0, dataLength <= 64 << 20 else { throw .badLength(dataLength) }
        guard cookieOffset < dataLength else { throw .badCookieOffset(cookieOffset, dataLength: dataLength) }
        let total = Self.fixedBytes + Int(dataLength)
        guard bytes.count >= total else { throw .truncated(have: bytes.count, need: total) }
        let data = bytes[Self.fixedBytes..<total]
        let xmlEnd = cookieOffset > 0 ? data.startIndex + Int(cookieOffset) : data.endIndex
        func string(_ slice: ArraySlice<UInt8>) -> String {
            String(decoding: slice.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        xml = string(data[data.startIndex..<xmlEnd])
        cookie = cookieOffset > 0 ? string(data[xmlEnd...]) : nil
        guard !xml.isEmpty else { throw .badLength(dataLength) }
    }

    init(version: UInt32, dataLength: UInt32, wasRunning: UInt32, compressed: UInt32, cookieOffset: UInt32,
         unused: [UInt32], xml: String, cookie: String?) {
        self.version = version
        self.dataLength = dataLength
        self.wasRunning = wasRunning
        self.compressed = compressed
        self.cookieOffset = cookieOffset
        self.unused = unused
        self.xml = xml
        self.cookie = cookie
    }

    private static func payload(xml: String, cookie: String?) -> [UInt8] {
        Array(xml.utf8) + [0] + (cookie.map { Array($0.utf8) + [0] } ?? [])
    }

    /// This header with `xml` in place of its XML: exactly `totalBytes` long, the same
    /// `data_len`, the cookie moved to follow the new XML (`cookieOffset` updated), the rest
    /// NUL padding. Throws `doesNotFit` when XML and cookie exceed `data_len`.
    public func rewritten(xml newXML: String) throws(SaveImageError) -> (header: SaveImageHeader, bytes: [UInt8]) {
        guard !newXML.utf8.contains(0) else { throw .xmlHasNUL }
        let payload = Self.payload(xml: newXML, cookie: cookie)
        guard payload.count <= Int(dataLength) else { throw .doesNotFit(need: payload.count, have: Int(dataLength)) }
        var header = self
        header.xml = newXML
        header.cookieOffset = cookie == nil ? 0 : UInt32(newXML.utf8.count + 1)
        return (header, header.fixedPart() + payload + [UInt8](repeating: 0, count: Int(dataLength) - payload.count))
    }

    /// Magic and the 19 integers, little-endian.
    func fixedPart() -> [UInt8] {
        let words = [version, dataLength, wasRunning, compressed, cookieOffset] + unused + [UInt32](repeating: 0, count: max(0, 14 - unused.count))
        return Self.magic + words.prefix(19).flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
    }

    /// The whole header as bytes (what `rewritten` returns for the current XML).
    public func bytes() throws(SaveImageError) -> [UInt8] { try rewritten(xml: xml).bytes }
}

public enum SaveImageError: Error, Equatable, CustomStringConvertible {
    case truncated(have: Int, need: Int)
    /// The save never finished ("LibvirtQemudPart"): the image must not be used.
    case partial
    case notASaveImage
    case unsupportedVersion(UInt32)
    case badLength(UInt32)
    case badCookieOffset(UInt32, dataLength: UInt32)
    case doesNotFit(need: Int, have: Int)
    case xmlHasNUL

    public var description: String {
        switch self {
        case let .truncated(have, need): "the save image header is cut short: \(have) bytes of \(need)"
        case .partial: "the save image is partial (magic LibvirtQemudPart): its save did not finish"
        case .notASaveImage: "not a libvirt QEMU save image (no LibvirtQemudSave magic)"
        case let .unsupportedVersion(version): "save image header version \(version) is not one Drove knows (1 or 2)"
        case let .badLength(length): "save image header has an implausible data length \(length)"
        case let .badCookieOffset(offset, length): "save image cookie offset \(offset) is outside its data (\(length) bytes)"
        case let .doesNotFit(need, have): "the clone's XML and cookie take \(need) bytes, more than the \(have) the save image header holds"
        case .xmlHasNUL: "the clone's XML contains a NUL byte"
        }
    }
}

/// What makes a clone itself rather than its golden VM.
public struct CloneIdentity: Sendable, Equatable {
    public var name: String
    public var uuid: String
    /// One for each of the golden's interfaces, in order.
    public var macs: [String]
    /// The clone's disk (an overlay of the golden's disk), target `vda`.
    public var diskPath: String
    /// The clone's NoCloud seed, target `hdc`; required when the golden has one.
    public var seedPath: String?
    /// The clone's serial console log; required when the golden logs its console.
    public var consoleLogPath: String?
    public var metadata: VMMetadata
    /// The clone's VM generation ID (a UUID), so the guest kernel knows it was copied; nil
    /// leaves the golden's as it is (for a golden without `<genid>`: no vmgenid device). libvirt
    /// 9.0 makes a fresh one on every restore anyway when the XML has `<genid>`.
    public var genid: String?

    public init(name: String, uuid: String, macs: [String], diskPath: String, seedPath: String?,
                consoleLogPath: String?, metadata: VMMetadata, genid: String?) {
        self.name = name
        self.uuid = uuid
        self.macs = macs
        self.diskPath = diskPath
        self.seedPath = seedPath
        self.consoleLogPath = consoleLogPath
        self.metadata = metadata
        self.genid = genid
    }
}

public struct CloneXMLError: Error, Equatable, CustomStringConvertible {
    public var cause: String
    public var description: String { "cannot make a clone's domain XML: \(cause)" }
}

/// Rewrites a golden VM's domain XML (from its save image) to a clone's identity.
public enum CloneXML {
    public static func rewrite(_ xml: String, to identity: CloneIdentity) throws(CloneXMLError) -> String {
        let document: XMLDocument
        do { document = try XMLDocument(xmlString: xml, options: []) } catch {
            throw CloneXMLError(cause: "the golden's XML does not parse: \(error)")
        }
        guard let domain = document.rootElement(), domain.name == "domain" else {
            throw CloneXMLError(cause: "the golden's XML has no <domain>")
        }
        setText(domain, "name", identity.name, after: nil)
        setText(domain, "uuid", identity.uuid, after: "name")
        if let genid = identity.genid { setText(domain, "genid", genid, after: "uuid") }

        // Drove's metadata element: replaced, others left alone.
        let metadata = child(domain, "metadata") ?? {
            let made = xmlElement("metadata")
            domain.addChild(made)
            return made
        }()
        for node in metadata.children ?? [] {
            guard let element = node as? XMLElement else { continue }
            if element.uri == VMMetadata.namespace || element.name == "\(VMMetadata.prefix):vm" {
                element.detach()
            }
        }
        metadata.addChild(identity.metadata.element())

        guard let devices = child(domain, "devices") else { throw CloneXMLError(cause: "the golden's XML has no <devices>") }
        let disks = elements(devices, "disk")
        guard let vda = disks.first(where: { target($0) == "vda" }) else { throw CloneXMLError(cause: "the golden has no disk vda") }
        try setSource(vda, identity.diskPath, disk: "vda")
        if let hdc = disks.first(where: { target($0) == "hdc" }) {
            guard let seedPath = identity.seedPath else { throw CloneXMLError(cause: "the golden has a seed CD-ROM (hdc); the clone needs a seed too") }
            try setSource(hdc, seedPath, disk: "hdc")
        } else if identity.seedPath != nil {
            throw CloneXMLError(cause: "the golden has no seed CD-ROM (hdc) to point at the clone's seed")
        }

        let interfaces = elements(devices, "interface")
        guard interfaces.count == identity.macs.count else {
            throw CloneXMLError(cause: "the golden has \(interfaces.count) interfaces, the clone \(identity.macs.count) MAC addresses")
        }
        for (interface, mac) in zip(interfaces, identity.macs) {
            if let element = child(interface, "mac") {
                element.attribute(forName: "address")?.stringValue = mac
            } else {
                interface.insertChild(xmlElement("mac", ["address": mac]), at: 0)
            }
        }

        var logs = 0
        for device in elements(devices, "serial") + elements(devices, "console") {
            for log in elements(device, "log") {
                guard let path = identity.consoleLogPath else {
                    throw CloneXMLError(cause: "the golden logs its console; the clone needs a console log path")
                }
                log.attribute(forName: "file")?.stringValue = path
                logs += 1
            }
        }
        if logs == 0, identity.consoleLogPath != nil {
            throw CloneXMLError(cause: "the golden logs no console to point at the clone's log")
        }
        return domain.xmlString
    }

    private static func child(_ parent: XMLElement, _ name: String) -> XMLElement? {
        parent.elements(forName: name).first
    }

    private static func elements(_ parent: XMLElement, _ name: String) -> [XMLElement] {
        parent.elements(forName: name)
    }

    private static func target(_ disk: XMLElement) -> String? {
        child(disk, "target")?.attribute(forName: "dev")?.stringValue
    }

    private static func setSource(_ disk: XMLElement, _ path: String, disk name: String) throws(CloneXMLError) {
        guard let source = child(disk, "source"), let file = source.attribute(forName: "file") else {
            throw CloneXMLError(cause: "the golden's disk \(name) has no <source file=…>")
        }
        file.stringValue = path
    }

    /// Sets `name`'s text, adding the element (after `after`, or first) when missing.
    private static func setText(_ domain: XMLElement, _ name: String, _ text: String, after: String?) {
        if let element = child(domain, name) {
            element.stringValue = text
            return
        }
        let element = xmlElement(name, text: text)
        if let after, let previous = child(domain, after) {
            domain.insertChild(element, at: previous.index + 1)
        } else {
            domain.insertChild(element, at: 0)
        }
    }
}
