import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// What Drove reads from one domain's XML in a single call: its ownership record and whether
/// the guest has opened its agent channel (a readiness signal from inside the guest).
struct DomainSnapshot {
    var metadata: VMMetadata?
    /// nil when the domain has no agent channel or is not running.
    var agentConnected: Bool?
    /// The live XML of a running domain carries its `id`; a defined, stopped one has none.
    var isRunning = false

    init(xml: String) {
        guard let document = try? XMLDocument(xmlString: xml), let root = document.rootElement() else { return }
        let records = root.elements(forName: "metadata").flatMap { $0.children ?? [] }
            .compactMap { $0 as? XMLElement }
            .filter { $0.uri == VMMetadata.namespace && $0.localName == "vm" }
        metadata = records.first.flatMap { VMMetadata(element: $0) }
        isRunning = root.attribute(forName: "id").flatMap { $0.stringValue.flatMap(Int.init) }.map { $0 >= 0 } ?? false
        for channel in root.elements(forName: "devices").flatMap({ $0.elements(forName: "channel") }) {
            for target in channel.elements(forName: "target") where target.attribute(forName: "name")?.stringValue == "org.qemu.guest_agent.0" {
                agentConnected = target.attribute(forName: "state")?.stringValue.map { $0 == "connected" }
            }
        }
    }
}
