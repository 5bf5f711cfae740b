import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// What a host can run, read from its capabilities XML.
public struct Capabilities: Sendable, Equatable {
    /// Guest architectures, each with the domain types offered for it (e.g. `x86_64: [qemu, kvm]`).
    public let domainTypes: [String: Set<String>]
    public let hostArchitecture: String?

    public init(xml: String) throws {
        let document = try XMLDocument(xmlString: xml)
        var types: [String: Set<String>] = [:]
        for arch in try document.nodes(forXPath: "/capabilities/guest/arch") {
            guard let arch = arch as? XMLElement, let name = arch.attribute(forName: "name")?.stringValue else { continue }
            for domain in arch.elements(forName: "domain") {
                if let type = domain.attribute(forName: "type")?.stringValue {
                    types[name, default: []].insert(type)
                }
            }
        }
        domainTypes = types
        hostArchitecture = try document.nodes(forXPath: "/capabilities/host/cpu/arch").first?.stringValue
    }

    /// Whether the host offers `type` (e.g. `kvm`) for guests of `architecture`.
    public func offers(_ type: String, architecture: String = "x86_64") -> Bool {
        domainTypes[architecture]?.contains(type) ?? false
    }
}
