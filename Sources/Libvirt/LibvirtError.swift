import CLibvirt

/// A failed libvirt call: which operation, on which object, and libvirt's own code, domain and message.
public struct LibvirtError: Error, Sendable, CustomStringConvertible {
    /// The C function that failed, e.g. `virDomainCreate`.
    public let operation: String
    /// The object the call was about, e.g. `domain web-1` or `pool default`, if any.
    public let object: String?
    /// libvirt's `virErrorNumber`; `0` when libvirt set no error.
    public let code: Int32
    /// libvirt's `virErrorDomain`: which part of libvirt raised it.
    public let domain: Int32
    public let message: String

    public init(operation: String, object: String? = nil, code: Int32, domain: Int32, message: String) {
        self.operation = operation
        self.object = object
        self.code = code
        self.domain = domain
        self.message = message
    }

    /// Reads and clears the calling thread's last libvirt error. Call it in the same synchronous
    /// closure as the failing call: libvirt keeps the error in thread-local storage.
    static func last(_ operation: String, object: String? = nil) -> LibvirtError {
        defer { virResetLastError() }
        guard let error = virGetLastError() else {
            return LibvirtError(operation: operation, object: object, code: 0, domain: 0,
                                message: "failed without an error from libvirt")
        }
        let message = error.pointee.message.map { String(cString: $0) } ?? "unknown libvirt error"
        return LibvirtError(operation: operation, object: object, code: error.pointee.code,
                            domain: error.pointee.domain, message: message)
    }

    public var description: String {
        let subject = object.map { "\($0): " } ?? ""
        return "\(subject)\(operation) failed: \(message) (code \(code), domain \(domain))"
    }

    /// The well-known codes Drove reacts to.
    public var isNoDomain: Bool { code == Int32(VIR_ERR_NO_DOMAIN.rawValue) }
    public var isNoStoragePool: Bool { code == Int32(VIR_ERR_NO_STORAGE_POOL.rawValue) }
    public var isNoStorageVolume: Bool { code == Int32(VIR_ERR_NO_STORAGE_VOL.rawValue) }
    public var isNoMetadata: Bool { code == Int32(VIR_ERR_NO_DOMAIN_METADATA.rawValue) }
    public var isOperationInvalid: Bool { code == Int32(VIR_ERR_OPERATION_INVALID.rawValue) }
    public var isUnsupported: Bool { code == Int32(VIR_ERR_NO_SUPPORT.rawValue) }
    public var isVolumeExists: Bool { code == Int32(VIR_ERR_STORAGE_VOL_EXIST.rawValue) }

    /// Worth trying again: the connection dropped, or the storage driver was busy with another
    /// job on the pool or volume ("pool has asynchronous jobs running", "volume is still being
    /// allocated"), which libvirt reports as an internal error or an invalid operation from its
    /// storage domain.
    public var isTransient: Bool {
        isConnectionLost
            || domain == Int32(VIR_FROM_STORAGE.rawValue)
            && (code == Int32(VIR_ERR_INTERNAL_ERROR.rawValue) || code == Int32(VIR_ERR_OPERATION_INVALID.rawValue))
    }
    /// The connection to the daemon is gone (a dead host, a closed socket).
    public var isConnectionLost: Bool {
        code == Int32(VIR_ERR_SYSTEM_ERROR.rawValue) && domain == Int32(VIR_FROM_RPC.rawValue)
            || code == Int32(VIR_ERR_RPC.rawValue)
            || code == Int32(VIR_ERR_NO_CONNECT.rawValue)
            || code == Int32(VIR_ERR_INVALID_CONN.rawValue)
    }
}
