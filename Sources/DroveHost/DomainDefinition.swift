import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Everything that goes into one VM's libvirt domain XML.
public struct DomainDefinition: Sendable, Equatable {
    public enum CPUMode: String, Sendable { case `default`, hostModel = "host-model", hostPassthrough = "host-passthrough", maximum }

    public enum Network: Sendable, Equatable {
        /// QEMU's user-mode network: no bridge, no dnsmasq, outbound only.
        case user(model: String)
        /// A libvirt virtual network by name.
        case network(name: String, model: String)
        /// A host bridge by name.
        case bridge(name: String, model: String)
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
    public var network: Network
    /// Drove's ownership record, written under Drove's namespace in `<metadata>`.
    public var metadata: VMMetadata

    public init(name: String, domainType: String, vcpus: Int, memoryBytes: UInt64, cpuMode: CPUMode,
                diskPath: String, diskFormat: String, network: Network, metadata: VMMetadata) {
        self.name = name
        self.domainType = domainType
        self.vcpus = vcpus
        self.memoryBytes = memoryBytes
        self.cpuMode = cpuMode
        self.diskPath = diskPath
        self.diskFormat = diskFormat
        self.network = network
        self.metadata = metadata
    }

    /// The domain XML, built as a tree so no value can inject markup: a serial console, VNC on
    /// loopback only, the disk with its format, the network, and Drove's metadata.
    public func xml() -> String {
        let domain = xmlElement("domain", ["type": domainType], [
            xmlElement("name", text: name),
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
            xmlElement("devices", [:], [
                xmlElement("disk", ["type": "file", "device": "disk"], [
                    xmlElement("driver", ["name": "qemu", "type": diskFormat]),
                    xmlElement("source", ["file": diskPath]),
                    xmlElement("target", ["dev": "vda", "bus": "virtio"]),
                ]),
                interface(),
                // The serial console, also written to a log (by virtlogd) so a boot can be read
                // after the fact.
                xmlElement("serial", ["type": "pty"], [
                    xmlElement("log", ["file": "/var/log/libvirt/qemu/\(name)-serial.log", "append": "off"]),
                    xmlElement("target", ["port": "0"]),
                ]),
                xmlElement("console", ["type": "pty"], [xmlElement("target", ["type": "serial", "port": "0"])]),
                // The guest agent's channel: a guest that opens it tells libvirt it is up.
                xmlElement("channel", ["type": "unix"], [
                    xmlElement("target", ["type": "virtio", "name": "org.qemu.guest_agent.0"]),
                ]),
                xmlElement("graphics", ["type": "vnc", "autoport": "yes", "listen": "127.0.0.1"], [
                    xmlElement("listen", ["type": "address", "address": "127.0.0.1"]),
                ]),
                xmlElement("memballoon", ["model": "none"]),
            ]),
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

    private func interface() -> XMLElement {
        switch network {
        case let .user(model):
            xmlElement("interface", ["type": "user"], [xmlElement("model", ["type": model])])
        case let .network(name, model):
            xmlElement("interface", ["type": "network"], [xmlElement("source", ["network": name]), xmlElement("model", ["type": model])])
        case let .bridge(name, model):
            xmlElement("interface", ["type": "bridge"], [xmlElement("source", ["bridge": name]), xmlElement("model", ["type": model])])
        }
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
