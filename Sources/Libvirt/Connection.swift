import CLibvirt
import Foundation

/// A libvirt C handle that may cross threads. libvirt's public objects are reference counted and
/// documented as safe to use from several threads at once, so sharing the pointer is sound.
struct CHandle: @unchecked Sendable {
    let raw: OpaquePointer
}

/// One connection to one libvirt daemon (or to an in-process driver such as `test:///default`).
///
/// Every call runs on the connection's own lane of threads. Close it with `close()`; `deinit`
/// closes a connection that was forgotten, so the handle is released exactly once either way.
public final class Connection: Sendable {
    public let uri: String
    let handle: CHandle
    let lane: Lane
    private let state = Locked(State())
    /// Held on a lane thread around deregistering callbacks and around `virConnectClose`, which
    /// may otherwise run at once on two of the lane's threads; true once the handle is closed.
    let handleClosed = Locked(false)

    private struct State {
        var closed = false
        var closeCallbackRegistered = false
        var nextRegistration = 0
        /// Open event streams: their libvirt callback ids and the continuation to finish on close.
        var eventStreams: [Int: (ids: [Int32], continuation: AsyncStream<DomainEvent>.Continuation)] = [:]
    }

    /// Opens a connection to `uri` (e.g. `qemu:///system`, `qemu+ssh://root@node-a/system`,
    /// `qemu+unix:///system?socket=/run/x/libvirt-sock`, `test:///default`).
    ///
    /// - Parameter lanes: how many calls may run against this connection at once.
    public static func open(_ uri: String, lanes: Int = 4, readOnly: Bool = false) async throws -> Connection {
        Runtime.prepare()
        let lane = Lane(width: lanes, label: uri)
        do {
            let handle = try await lane.run {
                let pointer = readOnly ? virConnectOpenReadOnly(uri) : virConnectOpen(uri)
                guard let pointer else { throw LibvirtError.last("virConnectOpen", object: uri) }
                return CHandle(raw: pointer)
            }
            return Connection(uri: uri, handle: handle, lane: lane)
        } catch {
            await lane.shutdown()
            throw error
        }
    }

    private init(uri: String, handle: CHandle, lane: Lane) {
        self.uri = uri
        self.handle = handle
        self.lane = lane
    }

    deinit {
        let alreadyClosed = state.withLock { $0.closed }
        if !alreadyClosed {
            virConnectClose(handle.raw)
        }
    }

    /// Closes the connection and stops its lane. Safe to call more than once.
    public func close() async {
        let first = state.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed
        }
        guard first else { return }
        let handle = self.handle
        let (unregister, streams) = state.withLock { state in
            defer { state.eventStreams = [:] }
            return (state.closeCallbackRegistered, Array(state.eventStreams.values))
        }
        let callbackIDs = streams.flatMap(\.ids)
        _ = try? await lane.run { [handleClosed] in
            handleClosed.withLock { closed in
                callbackIDs.forEach { virConnectDomainEventDeregisterAny(handle.raw, $0) }
                if unregister { virConnectUnregisterCloseCallback(handle.raw, closeTrampoline) }
                virConnectClose(handle.raw)
                closed = true
            }
        }
        streams.forEach { $0.continuation.finish() }
        await lane.shutdown()
    }

    /// Remembers an event stream so `close()` can deregister and finish it.
    func trackEvents(ids: [Int32], continuation: AsyncStream<DomainEvent>.Continuation) -> Int {
        state.withLock { state in
            state.nextRegistration += 1
            state.eventStreams[state.nextRegistration] = (ids, continuation)
            return state.nextRegistration
        }
    }

    /// Forgets an event stream; false when `close()` already took care of it.
    func untrackEvents(_ registration: Int) -> Bool {
        state.withLock { state in state.eventStreams.removeValue(forKey: registration) != nil && !state.closed }
    }

    /// Runs a call against the raw connection on this connection's lane.
    func call<T: Sendable>(mutating operation: String? = nil, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let handle = self.handle
        return try await lane.run(mutating: operation) { try body(handle.raw) }
    }

    // MARK: Liveness

    /// Asks the daemon to be probed every `interval` seconds; after `count` unanswered probes the
    /// connection is closed and the close handler runs. Returns false when the driver does not
    /// support keepalive (local in-process drivers such as `test:///`).
    @discardableResult
    public func setKeepAlive(interval: Int32 = 5, count: UInt32 = 5) async throws -> Bool {
        try await call { conn in
            let result = virConnectSetKeepAlive(conn, interval, count)
            if result < 0 {
                let error = LibvirtError.last("virConnectSetKeepAlive")
                if error.isUnsupported { return false }
                throw error
            }
            return result == 0
        }
    }

    /// Whether the connection still answers (`virConnectIsAlive`).
    public func isAlive() async -> Bool {
        (try? await call { conn in virConnectIsAlive(conn) == 1 }) ?? false
    }

    /// Registers `handler` to run (on libvirt's event thread) when the connection closes for any
    /// reason other than `close()`: keepalive timeout, EOF, an error. One handler per connection.
    public func onClose(_ handler: @escaping @Sendable (CloseReason) -> Void) async throws {
        let closeBox = CloseBox(handler)
        try await call { conn in
            let box = Unmanaged.passRetained(closeBox).toOpaque()
            if virConnectRegisterCloseCallback(conn, closeTrampoline, box, { opaque in
                if let opaque { Unmanaged<CloseBox>.fromOpaque(opaque).release() }
            }) < 0 {
                Unmanaged<CloseBox>.fromOpaque(box).release()
                throw LibvirtError.last("virConnectRegisterCloseCallback")
            }
        }
        state.withLock { $0.closeCallbackRegistered = true }
    }

    // MARK: Host facts

    public func hostname() async throws -> String {
        try await call { conn in
            guard let name = virConnectGetHostname(conn) else { throw LibvirtError.last("virConnectGetHostname") }
            defer { free(name) }
            return String(cString: name)
        }
    }

    /// CPUs, memory and CPU model of the host (`virNodeGetInfo`).
    public func nodeInfo() async throws -> NodeInfo {
        try await call { conn in
            var info = virNodeInfo()
            if virNodeGetInfo(conn, &info) < 0 { throw LibvirtError.last("virNodeGetInfo") }
            let model = withUnsafeBytes(of: info.model) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            return NodeInfo(model: model, memoryBytes: UInt64(info.memory) * 1024, cpus: Int(info.cpus),
                            mhz: Int(info.mhz), nodes: Int(info.nodes), sockets: Int(info.sockets),
                            cores: Int(info.cores), threads: Int(info.threads))
        }
    }

    /// Free memory on the host, in bytes (`virNodeGetFreeMemory`).
    public func freeMemory() async throws -> UInt64 {
        try await call { conn in
            let free = virNodeGetFreeMemory(conn)
            if free == 0 {
                let error = LibvirtError.last("virNodeGetFreeMemory")
                if error.code != 0 { throw error }
            }
            return UInt64(free)
        }
    }

    /// The host's capabilities XML (`virConnectGetCapabilities`).
    public func capabilitiesXML() async throws -> String {
        try await call { conn in
            guard let xml = virConnectGetCapabilities(conn) else { throw LibvirtError.last("virConnectGetCapabilities") }
            defer { free(xml) }
            return String(cString: xml)
        }
    }

    /// Which guest architectures and domain types (`kvm`, `qemu`, `test`, …) the host offers.
    public func capabilities() async throws -> Capabilities {
        try Capabilities(xml: try await capabilitiesXML())
    }

    /// libvirt's version on the far side of the connection, e.g. 9000000 for 9.0.0.
    public func libvirtVersion() async throws -> UInt64 {
        try await call { conn in
            var version: UInt = 0
            if virConnectGetLibVersion(conn, &version) < 0 { throw LibvirtError.last("virConnectGetLibVersion") }
            return UInt64(version)
        }
    }
}

/// Why a connection closed (`virConnectCloseReason`).
public enum CloseReason: Sendable, Equatable {
    case error, endOfFile, keepalive, client, other(Int32)

    init(_ raw: Int32) {
        switch raw {
        case Int32(VIR_CONNECT_CLOSE_REASON_ERROR.rawValue): self = .error
        case Int32(VIR_CONNECT_CLOSE_REASON_EOF.rawValue): self = .endOfFile
        case Int32(VIR_CONNECT_CLOSE_REASON_KEEPALIVE.rawValue): self = .keepalive
        case Int32(VIR_CONNECT_CLOSE_REASON_CLIENT.rawValue): self = .client
        default: self = .other(raw)
        }
    }
}

public struct NodeInfo: Sendable, Equatable {
    public let model: String
    public let memoryBytes: UInt64
    public let cpus: Int
    public let mhz: Int
    public let nodes: Int
    public let sockets: Int
    public let cores: Int
    public let threads: Int
}

final class CloseBox: Sendable {
    let handler: @Sendable (CloseReason) -> Void
    init(_ handler: @escaping @Sendable (CloseReason) -> Void) { self.handler = handler }
}

/// C entry point for close callbacks; `opaque` is a retained `CloseBox`.
let closeTrampoline: virConnectCloseFunc = { _, reason, opaque in
    guard let opaque else { return }
    Unmanaged<CloseBox>.fromOpaque(opaque).takeUnretainedValue().handler(CloseReason(reason))
}
