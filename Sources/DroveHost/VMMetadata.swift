import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The record Drove writes into every domain it makes, under its own XML namespace. A domain
/// without it is not Drove's and is never changed or deleted.
public struct VMMetadata: Sendable, Equatable {
    public static let namespace = "urn:drove:vm:v1"
    public static let prefix = "drove"

    public var set: String
    public var ordinal: Int
    /// Hash of everything in the VM's spec that needs a replacement when it changes.
    public var specHash: String
    /// Content digest of the template the VM's disk was cloned from.
    public var templateDigest: String
    /// The VM's disk volume in the host's pool.
    public var volume: String
    /// What the VM takes from its host, for placing others beside it.
    public var vcpus: Int
    public var memoryBytes: UInt64
    /// The key of the golden snapshot its disk rests on (it resumes from it), if any.
    public var golden: String?

    public init(set: String, ordinal: Int, specHash: String, templateDigest: String, volume: String,
                vcpus: Int, memoryBytes: UInt64, golden: String? = nil) {
        self.set = set
        self.ordinal = ordinal
        self.specHash = specHash
        self.templateDigest = templateDigest
        self.volume = volume
        self.vcpus = vcpus
        self.memoryBytes = memoryBytes
        self.golden = golden
    }

    private var attributes: [String: String] {
        var attributes = ["set": set, "ordinal": String(ordinal), "spec": specHash, "template": templateDigest, "volume": volume,
                          "vcpus": String(vcpus), "memory": String(memoryBytes)]
        attributes["golden"] = golden
        return attributes
    }

    /// `<drove:vm xmlns:drove="urn:drove:vm:v1" set="web" ordinal="3" .../>`
    func element() -> XMLElement {
        let node = xmlElement("\(Self.prefix):vm", attributes)
        node.addNamespace(XMLNode.namespace(withName: Self.prefix, stringValue: Self.namespace) as! XMLNode)
        return node
    }

    /// The metadata element alone, as `virDomainSetMetadata` takes it (libvirt adds the namespace).
    public func xml() -> String {
        xmlElement("vm", attributes).xmlString
    }

    /// Reads the record back from what `virDomainGetMetadata` returns; nil if it is not one.
    public init?(xml: String) {
        var root: [String: String]?
        XMLScan.elements(of: xml) { element in
            if element.path.isEmpty { root = element.attributes }
        }
        guard let root else { return nil }
        self.init(attributes: root)
    }

    init?(attributes: [String: String]) {
        guard let set = attributes["set"],
              let ordinal = attributes["ordinal"].flatMap({ Int($0) }),
              let spec = attributes["spec"],
              let template = attributes["template"],
              let volume = attributes["volume"],
              let vcpus = attributes["vcpus"].flatMap({ Int($0) }),
              let memory = attributes["memory"].flatMap({ UInt64($0) })
        else { return nil }
        self.init(set: set, ordinal: ordinal, specHash: spec, templateDigest: template, volume: volume,
                  vcpus: vcpus, memoryBytes: memory, golden: attributes["golden"])
    }
}
