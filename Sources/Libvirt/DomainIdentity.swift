import CLibvirt
import Foundation

extension Domain {
    /// The domain's UUID as text (`virDomainGetUUIDString`).
    public func uuidString() async throws -> String {
        let subject = self.subject
        return try await call { raw in
            var buffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
            if virDomainGetUUIDString(raw, &buffer) < 0 { throw LibvirtError.last("virDomainGetUUIDString", object: subject) }
            return String(cString: buffer)
        }
    }
}

extension Connection {
    /// The hypervisor's version (`virConnectGetVersion`): for the QEMU driver, QEMU's, e.g.
    /// 7002000 for 7.2.0. A saved guest resumes only under the QEMU that saved it.
    public func hypervisorVersion() async throws -> UInt64 {
        try await call { conn in
            var version: UInt = 0
            if virConnectGetVersion(conn, &version) < 0 { throw LibvirtError.last("virConnectGetVersion") }
            return UInt64(version)
        }
    }
}
