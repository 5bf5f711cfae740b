import CLibvirt
import Foundation

/// A domain (a VM) on one connection. Owns its `virDomainPtr` and frees it exactly once.
public final class Domain: LibvirtObject {
    public let name: String
    public let uuid: String
    let handle: CHandle
    let connection: Connection

    /// Takes ownership of `raw` (a reference the caller got from libvirt).
    init(adopting raw: OpaquePointer, connection: Connection) {
        handle = CHandle(raw: raw)
        self.connection = connection
        name = virDomainGetName(raw).map { String(cString: $0) } ?? ""
        var buffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
        uuid = virDomainGetUUIDString(raw, &buffer) == 0
            ? String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    }

    deinit {
        virDomainFree(handle.raw)
    }

    var subject: String { "domain \(name)" }



    /// Boots a defined domain (`virDomainCreate`).
    public func start() async throws {
        try await check("virDomainCreate", mutating: true) { virDomainCreate($0) }
    }

    /// Lets a paused domain's vCPUs run again (`virDomainResume`).
    public func resume() async throws {
        try await check("virDomainResume", mutating: true) { virDomainResume($0) }
    }

    /// Pulls the plug (`virDomainDestroy`): the domain stops at once, its definition stays.
    public func destroy() async throws {
        try await check("virDomainDestroy", mutating: true) { virDomainDestroy($0) }
    }

    /// Presses the guest's ACPI power button; returns before the guest is off. (libvirt's
    /// default would first try the guest agent, and wait 5 s when the agent channel is open but
    /// no agent answers.)
    public func shutdown() async throws {
        try await check("virDomainShutdownFlags", mutating: true) { virDomainShutdownFlags($0, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN.rawValue) }
    }

    /// Removes the definition, with its managed save image, snapshot and checkpoint metadata and
    /// NVRAM, so nothing of the domain is left to block a later define of the same name.
    /// Drivers that know no NVRAM or checkpoints (such as `test:///`) refuse those flags; then
    /// the domain has none of either, and it is undefined with the flags the driver knows.
    public func undefine() async throws {
        let basic = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE.rawValue | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA.rawValue
        let full = basic | VIR_DOMAIN_UNDEFINE_NVRAM.rawValue | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA.rawValue
        let subject = self.subject
        try await call(mutating: "virDomainUndefineFlags") { raw in
            if virDomainUndefineFlags(raw, full) == 0 { return }
            let error = LibvirtError.last("virDomainUndefineFlags", object: subject)
            guard error.code == Int32(VIR_ERR_INVALID_ARG.rawValue), error.message.contains("unsupported flags") else {
                throw error
            }
            if virDomainUndefineFlags(raw, basic) < 0 { throw LibvirtError.last("virDomainUndefineFlags", object: subject) }
        }
    }

    public func isActive() async throws -> Bool {
        let subject = self.subject
        return try await call { raw in
            let result = virDomainIsActive(raw)
            if result < 0 { throw LibvirtError.last("virDomainIsActive", object: subject) }
            return result == 1
        }
    }

    public func state() async throws -> DomainState {
        try await stateAndReason().state
    }

    /// The state and libvirt's reason for it (`virDomainGetState`), e.g. why a domain is paused.
    public func stateAndReason() async throws -> (state: DomainState, reason: Int32) {
        let subject = self.subject
        return try await call { raw in
            var state: Int32 = 0
            var reason: Int32 = 0
            if virDomainGetState(raw, &state, &reason, 0) < 0 {
                throw LibvirtError.last("virDomainGetState", object: subject)
            }
            return (DomainState(state), reason)
        }
    }

    /// Whether a paused domain's reason is one Drove may undo by resuming it: a start cut off
    /// before the CPUs ran (starting up, or no reason recorded), or a pause by hand. Not an I/O
    /// error (the guest would pause again at once), a migration, a save, a snapshot or a dump.
    public static func mayResume(pausedFor reason: Int32) -> Bool {
        [VIR_DOMAIN_PAUSED_UNKNOWN.rawValue, VIR_DOMAIN_PAUSED_USER.rawValue, VIR_DOMAIN_PAUSED_STARTING_UP.rawValue]
            .map { Int32($0) }.contains(reason)
    }

    /// The domain's XML (`virDomainGetXMLDesc`); `inactive` gives the persistent definition.
    public func xml(inactive: Bool = false) async throws -> String {
        let subject = self.subject
        let flags = inactive ? VIR_DOMAIN_XML_INACTIVE.rawValue : 0
        return try await call { raw in
            guard let xml = virDomainGetXMLDesc(raw, flags) else {
                throw LibvirtError.last("virDomainGetXMLDesc", object: subject)
            }
            defer { free(xml) }
            return String(cString: xml)
        }
    }

    /// Stores `xml` (one element) as this domain's metadata under `namespace`, written with
    /// the prefix `key`. It goes into the persistent definition, and the live one if running.
    public func setMetadata(_ xml: String, key: String, namespace: String) async throws {
        let subject = self.subject
        try await call(mutating: "virDomainSetMetadata") { raw in
            var flags = VIR_DOMAIN_AFFECT_CONFIG.rawValue
            if virDomainIsActive(raw) == 1 { flags |= VIR_DOMAIN_AFFECT_LIVE.rawValue }
            if virDomainSetMetadata(raw, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), xml, key, namespace, flags) < 0 {
                throw LibvirtError.last("virDomainSetMetadata", object: subject)
            }
        }
    }

    /// The metadata element stored under `namespace`, or nil when the domain has none there
    /// (a domain Drove did not make).
    public func metadata(namespace: String, inactive: Bool = false) async throws -> String? {
        let subject = self.subject
        let flags = inactive ? VIR_DOMAIN_AFFECT_CONFIG.rawValue : VIR_DOMAIN_AFFECT_CURRENT.rawValue
        return try await call { raw in
            guard let xml = virDomainGetMetadata(raw, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), namespace, flags) else {
                let error = LibvirtError.last("virDomainGetMetadata", object: subject)
                if error.isNoMetadata { return nil }
                throw error
            }
            defer { free(xml) }
            return String(cString: xml)
        }
    }
}

/// A domain's run state (`virDomainState`).
public enum DomainState: Sendable, Equatable {
    case noState, running, blocked, paused, shuttingDown, shutOff, crashed, suspended, unknown(Int32)

    init(_ raw: Int32) {
        switch UInt32(bitPattern: raw) {
        case VIR_DOMAIN_NOSTATE.rawValue: self = .noState
        case VIR_DOMAIN_RUNNING.rawValue: self = .running
        case VIR_DOMAIN_BLOCKED.rawValue: self = .blocked
        case VIR_DOMAIN_PAUSED.rawValue: self = .paused
        case VIR_DOMAIN_SHUTDOWN.rawValue: self = .shuttingDown
        case VIR_DOMAIN_SHUTOFF.rawValue: self = .shutOff
        case VIR_DOMAIN_CRASHED.rawValue: self = .crashed
        case VIR_DOMAIN_PMSUSPENDED.rawValue: self = .suspended
        default: self = .unknown(raw)
        }
    }

    /// Whether a guest is up (running, or blocked on I/O).
    public var isUp: Bool { self == .running || self == .blocked }
}

extension Connection {
    /// Every domain on the host, running or only defined (`virConnectListAllDomains`);
    /// `activeOnly` lists just the running ones and `pausedOnly` the paused ones, so one call
    /// tells which are up, or which are up but not running.
    public func listAllDomains(activeOnly: Bool = false, pausedOnly: Bool = false) async throws -> [Domain] {
        let flags = (activeOnly ? VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue : 0) | (pausedOnly ? VIR_CONNECT_LIST_DOMAINS_PAUSED.rawValue : 0)
        let handles: [CHandle] = try await call { conn in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = virConnectListAllDomains(conn, &list, flags)
            if count < 0 { throw LibvirtError.last("virConnectListAllDomains") }
            defer { free(list) }
            return (0..<Int(count)).compactMap { index in list?[index].map(CHandle.init) }
        }
        return handles.map { Domain(adopting: $0.raw, connection: self) }
    }

    /// The domain called `name`, or nil if the host has none.
    public func domain(named name: String) async throws -> Domain? {
        let handle: CHandle? = try await call { conn in
            guard let raw = virDomainLookupByName(conn, name) else {
                let error = LibvirtError.last("virDomainLookupByName", object: "domain \(name)")
                if error.isNoDomain { return nil }
                throw error
            }
            return CHandle(raw: raw)
        }
        return handle.map { Domain(adopting: $0.raw, connection: self) }
    }

    /// Defines (or redefines) a persistent domain from XML (`virDomainDefineXML`).
    public func defineDomain(xml: String) async throws -> Domain {
        let handle: CHandle = try await call(mutating: "virDomainDefineXML") { conn in
            guard let raw = virDomainDefineXML(conn, xml) else { throw LibvirtError.last("virDomainDefineXML") }
            return CHandle(raw: raw)
        }
        return Domain(adopting: handle.raw, connection: self)
    }
}
