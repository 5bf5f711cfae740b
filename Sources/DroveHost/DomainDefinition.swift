import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Everything that goes into one VM's libvirt domain XML.
///
/// The device model is lean on purpose: a virtio disk and NICs, the seed as a read-only CD-ROM,
/// one serial console, the agent channel, and nothing a server guest does not use (no USB
/// controller, tablet, sound, graphics or video; no memory balloon). Each device left out is
/// emulation QEMU does not set up and a guest does not probe on every boot.
public struct DomainDefinition: Sendable, Equatable {
    public enum CPUMode: String, Sendable { case `default`, hostModel = "host-model", hostPassthrough = "host-passthrough", maximum }

    public struct Interface: Sendable, Equatable {
        public enum Attachment: Sendable, Equatable {
            /// QEMU's user-mode network: no bridge, no dnsmasq, outbound only.
            case user
            /// A libvirt virtual network by name.
            case network(String)
            /// A host bridge by name.
            case bridge(String)
        }

        public var attachment: Attachment
        public var model: String
        public var mac: String

        public init(attachment: Attachment, model: String = "virtio", mac: String) {
            self.attachment = attachment
            self.model = model
            self.mac = mac
        }
    }

    public var name: String
    /// `kvm` or `qemu` (TCG), already resolved from the host's setting.
    public var domainType: String
    public var vcpus: Int
    public var memoryBytes: UInt64
    public var cpuMode: CPUMode
    public var diskPath: String
    /// The disk image's format, named explicitly so QEMU never probes it.
    public var diskFormat: String
    public var interfaces: [Interface]
    /// The NoCloud seed image, attached as a read-only CD-ROM.
    public var seedPath: String?
    /// Where virtlogd writes the serial console (a volume in the pool, so it can be read back
    /// through libvirt); nil for no log.
    public var consoleLogPath: String?
    /// Drove's ownership record, written under Drove's namespace in `<metadata>`.
    public var metadata: VMMetadata
    /// The VM generation ID (a UUID, `<genid>`): QEMU's vmgenid device, which tells a guest
    /// kernel that knows it (CONFIG_VMGENID) when it runs as a copy, so it reseeds its RNG.
    /// A golden VM has one, so its clones can be given fresh ones.
    public var genid: String?
    /// Adds the identity channel (`org.drove.identity.0`): a guest that finds it waits there
    /// for one line before taking on an identity, which makes the VM a golden for clones.
    public var identityChannel: Bool

    /// The virtio-serial port a golden guest waits on for its clone's identity.
    public static let identityChannelName = "org.drove.identity.0"

    public init(name: String, domainType: String, vcpus: Int, memoryBytes: UInt64, cpuMode: CPUMode,
                diskPath: String, diskFormat: String, interfaces: [Interface], seedPath: String? = nil,
                consoleLogPath: String? = nil, metadata: VMMetadata, genid: String? = nil, identityChannel: Bool = false) {
        self.name = name
        self.domainType = domainType
        self.vcpus = vcpus
        self.memoryBytes = memoryBytes
        self.cpuMode = cpuMode
        self.diskPath = diskPath
        self.diskFormat = diskFormat
        self.interfaces = interfaces
        self.seedPath = seedPath
        self.consoleLogPath = consoleLogPath
        self.metadata = metadata
        self.genid = genid
        self.identityChannel = identityChannel
    }

    /// The domain XML, built as a tree so no value can inject markup.
    public func xml() -> String {
        var devices = [
            xmlElement("disk", ["type": "file", "device": "disk"], [
                xmlElement("driver", ["name": "qemu", "type": diskFormat]),
                xmlElement("source", ["file": diskPath]),
                xmlElement("target", ["dev": "vda", "bus": "virtio"]),
            ]),
        ]
        if let seedPath {
            devices.append(xmlElement("disk", ["type": "file", "device": "cdrom"], [
                xmlElement("driver", ["name": "qemu", "type": "raw"]),
                xmlElement("source", ["file": seedPath]),
                xmlElement("target", ["dev": "hdc", "bus": "ide"]),
                xmlElement("readonly"),
            ]))
        }
        devices += interfaces.map(interface)
        // The serial console, also written to a log by virtlogd, so a boot can be read after
        // the fact (`drove logs`, and a readiness timeout's message).
        devices.append(xmlElement("serial", ["type": "pty"], (consoleLogPath.map { [xmlElement("log", ["file": $0, "append": "on"])] } ?? [])
            + [xmlElement("target", ["port": "0"])]))
        devices += [
            xmlElement("console", ["type": "pty"], [xmlElement("target", ["type": "serial", "port": "0"])]),
            // The guest agent's channel: a guest that opens it tells libvirt it is up.
            xmlElement("channel", ["type": "unix"], [
                xmlElement("target", ["type": "virtio", "name": "org.qemu.guest_agent.0"]),
            ]),
        ]
        if identityChannel {
            // Like the agent's, a unix socket QEMU serves; Drove writes to it through
            // virDomainOpenChannel (libvirt does not connect to it itself).
            devices.append(xmlElement("channel", ["type": "unix"], [
                xmlElement("target", ["type": "virtio", "name": Self.identityChannelName]),
            ]))
        }
        devices += [
            xmlElement("controller", ["type": "usb", "model": "none"]),
            xmlElement("memballoon", ["model": "none"]),
        ]
        let domain = xmlElement("domain", ["type": domainType], [
            xmlElement("name", text: name),
        ] + (genid.map { [xmlElement("genid", text: $0)] } ?? []) + [
            xmlElement("metadata", [:], [metadata.element()]),
            xmlElement("memory", ["unit": "KiB"], text: String(memoryBytes / 1024)),
            xmlElement("vcpu", text: String(vcpus)),
            xmlElement("os", [:], [xmlElement("type", ["arch": "x86_64", "machine": "pc"], text: "hvm"),
                               xmlElement("boot", ["dev": "hd"])]),
            xmlElement("features", [:], [xmlElement("acpi")]),
        ] + cpu() + [
            xmlElement("on_poweroff", text: "destroy"),
            xmlElement("on_reboot", text: "restart"),
            xmlElement("on_crash", text: "destroy"),
            xmlElement("devices", [:], devices),
        ])
        return XMLDocument(rootElement: domain).xmlString(options: [.nodePrettyPrint])
    }

    private func cpu() -> [XMLElement] {
        switch cpuMode {
        case .default: []
        case .hostModel: [xmlElement("cpu", ["mode": "host-model"])]
        case .hostPassthrough: [xmlElement("cpu", ["mode": "host-passthrough"])]
        case .maximum: [xmlElement("cpu", ["mode": "maximum"])]
        }
    }

    private func interface(_ nic: Interface) -> XMLElement {
        let (type, source): (String, [XMLElement]) = switch nic.attachment {
        case .user: ("user", [])
        case let .network(name): ("network", [xmlElement("source", ["network": name])])
        case let .bridge(name): ("bridge", [xmlElement("source", ["bridge": name])])
        }
        return xmlElement("interface", ["type": type], [xmlElement("mac", ["address": nic.mac])] + source + [xmlElement("model", ["type": nic.model])])
    }
}

/// Builds an element with attributes (in sorted order, so the XML is deterministic), children
/// and text. Values are escaped by the XML library.
func xmlElement(_ name: String, _ attributes: [String: String] = [:], _ children: [XMLElement] = [], text: String? = nil) -> XMLElement {
    let node = XMLElement(name: name)
    for key in attributes.keys.sorted() {
        node.addAttribute(XMLNode.attribute(withName: key, stringValue: attributes[key]!) as! XMLNode)
    }
    for child in children { node.addChild(child) }
    if let text { node.stringValue = text }
    return node
}
