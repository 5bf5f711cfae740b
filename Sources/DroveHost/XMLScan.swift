import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads XML as a stream of element starts, for the few values Drove reads back from libvirt.
///
/// Not `XMLDocument`: on Linux (swift-corelibs-foundation, Swift 6.3) every document it parses
/// stays in memory, about 30 KiB per domain read, so a controller reading 1,000 domains per
/// resync grew by 30 MiB each time (drove-bench figure 5). The streaming parser keeps nothing.
enum XMLScan {
    struct Element {
        /// Local names from the root down to this element's parent.
        var path: [String]
        var name: String
        var namespace: String?
        var attributes: [String: String]
    }

    /// Calls `visit` for every element start, in document order. Returns false for XML that
    /// does not parse.
    @discardableResult
    static func elements(of xml: String, _ visit: (Element) -> Void) -> Bool {
        withoutActuallyEscaping(visit) { visit in
            let delegate = Delegate(visit)
            let parser = XMLParser(data: Data(xml.utf8))
            parser.shouldProcessNamespaces = true
            parser.shouldResolveExternalEntities = false
            parser.delegate = delegate
            return parser.parse()
        }
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        let visit: (Element) -> Void
        var path: [String] = []

        init(_ visit: @escaping (Element) -> Void) {
            self.visit = visit
        }

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName: String?, attributes: [String: String] = [:]) {
            visit(Element(path: path, name: elementName, namespace: namespaceURI, attributes: attributes))
            path.append(elementName)
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            path.removeLast()
        }
    }
}
