import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Storage volume XML, built as a tree like the domain XML.
enum VolumeXML {
    /// An image of `format` and `capacity` bytes; allocation 0 keeps it sparse, so an upload's
    /// holes stay holes on the host.
    static func image(name: String, format: String, capacity: UInt64) -> String {
        render(xmlElement("volume", [:], [
            xmlElement("name", text: name),
            xmlElement("capacity", ["unit": "bytes"], text: String(capacity)),
            xmlElement("allocation", ["unit": "bytes"], text: "0"),
            xmlElement("target", [:], [xmlElement("format", ["type": format])]),
        ]))
    }

    /// A qcow2 overlay whose backing file and its format are named explicitly, so QEMU never
    /// probes the backing image's format.
    static func overlay(name: String, capacity: UInt64, backingPath: String, backingFormat: String) -> String {
        render(xmlElement("volume", [:], [
            xmlElement("name", text: name),
            xmlElement("capacity", ["unit": "bytes"], text: String(capacity)),
            xmlElement("allocation", ["unit": "bytes"], text: "0"),
            xmlElement("target", [:], [xmlElement("format", ["type": "qcow2"])]),
            xmlElement("backingStore", [:], [
                xmlElement("path", text: backingPath),
                xmlElement("format", ["type": backingFormat]),
            ]),
        ]))
    }

    /// An empty raw volume whose existence is the message (a template copy's ready marker).
    static func marker(name: String) -> String {
        image(name: name, format: "raw", capacity: 0)
    }

    private static func render(_ root: XMLElement) -> String {
        XMLDocument(rootElement: root).xmlString
    }
}
