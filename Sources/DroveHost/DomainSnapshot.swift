/// What Drove reads from one domain's XML in a single call: its ownership record, whether it
/// runs, and whether the guest has opened its agent channel (a readiness signal from inside).
struct DomainSnapshot {
    var metadata: VMMetadata?
    /// nil when the domain has no agent channel or is not running.
    var agentConnected: Bool?
    /// Whether the guest opened Drove's identity channel (a golden guest waiting to be saved);
    /// nil when the domain has none or is not running.
    var identityConnected: Bool?
    /// The live XML of a running domain carries its `id`; a defined, stopped one has none.
    var isRunning = false
    /// Its NICs' types (`user`, `network`, `bridge`), MACs and libvirt networks, in order.
    var interfaces: [(type: String, mac: String, network: String?)] = []
    /// The files of its disks (the disk, the cloud-init seed), in order.
    var diskFiles: [String] = []

    init(xml: String) {
        XMLScan.elements(of: xml) { element in
            switch (element.path, element.name) {
            case ([], "domain"):
                isRunning = element.attributes["id"].flatMap { Int($0) }.map { $0 >= 0 } ?? false
            case (["domain", "metadata"], "vm") where element.namespace == VMMetadata.namespace:
                metadata = VMMetadata(attributes: element.attributes)
            case (["domain", "devices"], "interface"):
                interfaces.append((type: element.attributes["type"] ?? "", mac: "", network: nil))
            case (["domain", "devices", "interface"], "mac") where !interfaces.isEmpty:
                interfaces[interfaces.count - 1].mac = element.attributes["address"] ?? ""
            case (["domain", "devices", "interface"], "source") where !interfaces.isEmpty:
                interfaces[interfaces.count - 1].network = element.attributes["network"]
            case (["domain", "devices", "disk"], "source"):
                if let file = element.attributes["file"] { diskFiles.append(file) }
            case (["domain", "devices", "channel"], "target") where element.attributes["name"] == "org.qemu.guest_agent.0":
                agentConnected = element.attributes["state"].map { $0 == "connected" }
            case (["domain", "devices", "channel"], "target") where element.attributes["name"] == DomainDefinition.identityChannelName:
                identityConnected = element.attributes["state"].map { $0 == "connected" }
            default:
                break
            }
        }
    }
}
