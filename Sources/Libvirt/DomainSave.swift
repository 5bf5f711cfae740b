import CLibvirt
import Foundation

extension Domain {
    /// Saves the running domain's memory and device state into the file at `path` on its host
    /// (`virDomainSaveFlags`) and stops it; its definition (if persistent) stays. A later
    /// `Connection.restoreDomain(from:named:)` resumes it. `running` overrides the state the
    /// restored domain comes back in (`true`: running, `false`: paused); nil keeps the one it
    /// has now. (The `test:///` driver knows neither flag.)
    ///
    /// The file is written by the host's daemon (for QEMU: libvirt's header, then QEMU's
    /// migration stream); it carries a "partial" magic until the save has finished.
    public func save(to path: String, xml: String? = nil, running: Bool? = nil) async throws {
        let subject = self.subject
        let flags = running.map { $0 ? VIR_DOMAIN_SAVE_RUNNING.rawValue : VIR_DOMAIN_SAVE_PAUSED.rawValue } ?? 0
        try await call(mutating: "virDomainSaveFlags") { raw in
            if virDomainSaveFlags(raw, path, xml, flags) < 0 { throw LibvirtError.last("virDomainSaveFlags", object: subject) }
        }
    }
}

extension Connection {
    /// Restores a domain from a save image on the host (`virDomainRestoreFlags`) as the domain
    /// the image's own XML describes, and returns it, looked up by `name` (libvirt's restore
    /// does not say which domain it made). `paused` keeps its vCPUs stopped.
    ///
    /// libvirt reads the whole image before this returns (QEMU has loaded its state), so the
    /// file may be removed afterwards.
    public func restoreDomain(from path: String, named name: String, paused: Bool = false) async throws -> Domain {
        let flags = paused ? VIR_DOMAIN_SAVE_PAUSED.rawValue : 0
        let subject = "domain \(name)"
        let handle: CHandle = try await call(mutating: "virDomainRestoreFlags") { conn in
            if virDomainRestoreFlags(conn, path, nil, flags) < 0 { throw LibvirtError.last("virDomainRestoreFlags", object: subject) }
            guard let raw = virDomainLookupByName(conn, name) else {
                throw LibvirtError.last("virDomainLookupByName", object: subject)
            }
            return CHandle(raw: raw)
        }
        return Domain(adopting: handle.raw, connection: self)
    }

    /// The domain XML a save image on the host holds (`virDomainSaveImageGetXMLDesc`).
    public func saveImageXML(at path: String) async throws -> String {
        try await call { conn in
            guard let xml = virDomainSaveImageGetXMLDesc(conn, path, 0) else {
                throw LibvirtError.last("virDomainSaveImageGetXMLDesc", object: path)
            }
            defer { free(xml) }
            return String(cString: xml)
        }
    }
}
