import CLibvirt
import Foundation

/// Something that happened to a domain, as libvirt reported it.
public struct DomainEvent: Sendable, Equatable {
    public let domainName: String
    public let domainUUID: String
    public let kind: Kind
    /// libvirt's detail code for the event (e.g. why a domain stopped).
    public let detail: Int32

    public enum Kind: Sendable, Equatable {
        // Lifecycle (`VIR_DOMAIN_EVENT_ID_LIFECYCLE`).
        case defined, undefined, started, suspended, resumed, stopped, shutdown, pmSuspended, crashed
        // The guest agent channel opened or closed (`VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE`): a
        // readiness signal from inside the guest.
        case agentConnected, agentDisconnected
        case other(Int32)
    }
}

/// Feeds one AsyncStream from libvirt's event thread; each registration holds a retain.
final class EventSink: Sendable {
    let continuation: AsyncStream<DomainEvent>.Continuation
    init(_ continuation: AsyncStream<DomainEvent>.Continuation) { self.continuation = continuation }
}

extension Connection {
    /// Lifecycle and guest-agent events of every domain on this host, as they happen.
    ///
    /// libvirt delivers them on its event thread (see `Runtime`); the stream ends when the
    /// consumer stops iterating or the connection closes.
    public func domainEvents() async throws -> AsyncStream<DomainEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DomainEvent.self, bufferingPolicy: .bufferingNewest(4096))
        let sink = EventSink(continuation)
        let ids: [Int32] = try await call { conn in
            var ids: [Int32] = []
            for (eventID, callback) in [
                (VIR_DOMAIN_EVENT_ID_LIFECYCLE, unsafeBitCast(lifecycleTrampoline, to: virConnectDomainEventGenericCallback.self)),
                (VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, unsafeBitCast(agentTrampoline, to: virConnectDomainEventGenericCallback.self)),
            ] {
                let opaque = Unmanaged.passRetained(sink).toOpaque()
                let id = virConnectDomainEventRegisterAny(conn, nil, Int32(eventID.rawValue), callback, opaque) { opaque in
                    if let opaque { Unmanaged<EventSink>.fromOpaque(opaque).release() }
                }
                if id < 0 {
                    Unmanaged<EventSink>.fromOpaque(opaque).release()
                    let error = LibvirtError.last("virConnectDomainEventRegisterAny")
                    ids.forEach { virConnectDomainEventDeregisterAny(conn, $0) }
                    throw error
                }
                ids.append(id)
            }
            return ids
        }
        let registration = trackEvents(ids: ids, continuation: continuation)
        let handle = self.handle
        continuation.onTermination = { [weak self] _ in
            guard let self, self.untrackEvents(registration) else { return }
            self.lane.submit { [handleClosed = self.handleClosed] in
                handleClosed.withLock { closed in
                    if !closed { ids.forEach { virConnectDomainEventDeregisterAny(handle.raw, $0) } }
                }
            }
        }
        return stream
    }
}

private func domainIdentity(_ domain: OpaquePointer?) -> (String, String) {
    guard let domain else { return ("", "") }
    let name = virDomainGetName(domain).map { String(cString: $0) } ?? ""
    var buffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
    let uuid = virDomainGetUUIDString(domain, &buffer) == 0
        ? String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    return (name, uuid)
}

private let lifecycleTrampoline: @convention(c) (OpaquePointer?, OpaquePointer?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = {
    _, domain, event, detail, opaque in
    guard let opaque else { return 0 }
    let kind: DomainEvent.Kind = switch UInt32(bitPattern: event) {
    case VIR_DOMAIN_EVENT_DEFINED.rawValue: .defined
    case VIR_DOMAIN_EVENT_UNDEFINED.rawValue: .undefined
    case VIR_DOMAIN_EVENT_STARTED.rawValue: .started
    case VIR_DOMAIN_EVENT_SUSPENDED.rawValue: .suspended
    case VIR_DOMAIN_EVENT_RESUMED.rawValue: .resumed
    case VIR_DOMAIN_EVENT_STOPPED.rawValue: .stopped
    case VIR_DOMAIN_EVENT_SHUTDOWN.rawValue: .shutdown
    case VIR_DOMAIN_EVENT_PMSUSPENDED.rawValue: .pmSuspended
    case VIR_DOMAIN_EVENT_CRASHED.rawValue: .crashed
    default: .other(event)
    }
    let (name, uuid) = domainIdentity(domain)
    Unmanaged<EventSink>.fromOpaque(opaque).takeUnretainedValue().continuation
        .yield(DomainEvent(domainName: name, domainUUID: uuid, kind: kind, detail: detail))
    return 0
}

private let agentTrampoline: @convention(c) (OpaquePointer?, OpaquePointer?, Int32, Int32, UnsafeMutableRawPointer?) -> Void = {
    _, domain, state, reason, opaque in
    guard let opaque else { return }
    let kind: DomainEvent.Kind = switch UInt32(bitPattern: state) {
    case VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED.rawValue: .agentConnected
    case VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_DISCONNECTED.rawValue: .agentDisconnected
    default: .other(state)
    }
    let (name, uuid) = domainIdentity(domain)
    Unmanaged<EventSink>.fromOpaque(opaque).takeUnretainedValue().continuation
        .yield(DomainEvent(domainName: name, domainUUID: uuid, kind: kind, detail: reason))
}
