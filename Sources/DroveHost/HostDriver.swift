import DroveManifest
import DrovePlan
import Libvirt

/// Something a host says on its own: a domain changed, or the connection closed.
public enum HostEvent: Sendable, Equatable {
    /// A domain was defined, undefined, started, stopped…, or its guest agent came or went.
    case domain(name: String, kind: DomainEvent.Kind)
    /// The connection is gone (the stream ends after this).
    case closed(reason: String)
}

/// One domain as read on its own (after an event named it).
public enum DomainObservation: Sendable, Equatable {
    case drove(ObservedVM)
    /// A domain without Drove's metadata.
    case foreign
    /// No such domain.
    case absent
}

/// One host as the engine drives it: observe it, carry out one action on it, hear what changes
/// on it. `LibvirtHost` is the real one; tests use an in-memory one (DroveTestSupport).
public protocol HostDriver: Sendable {
    var name: String { get }
    /// Reads the host's state. Never throws: a host that cannot be read is reported unreachable.
    func observe() async -> ObservedHost
    /// Reads one domain, for an event that named it.
    func observeDomain(_ name: String) async throws -> DomainObservation
    /// Carries out one action, tolerating a half-done earlier attempt at it. Returns a note for
    /// people when it was done otherwise than asked (a restore that booted instead), else nil.
    @discardableResult
    func perform(_ action: Action, progress: TransferProgress?) async throws -> String?
    /// The host's events from now on, ending with `.closed` when the connection goes.
    func events() async throws -> AsyncStream<HostEvent>
    /// What the host lacks of what `host` declares and Drove needs, one line per problem;
    /// empty when it has it all. Run once per connection.
    func check(_ host: Host) async -> [String]
    /// The VM's serial console log from byte `offset` on: what was written there since, up to
    /// a chunk's worth, and the offset to continue from.
    func consoleLog(vm: String, from offset: UInt64) async throws -> ConsoleLogChunk
    func close() async
}

/// A piece of a VM's console log.
public struct ConsoleLogChunk: Sendable, Equatable {
    public var bytes: [UInt8]
    /// Where the next read continues: the offset asked for plus the bytes returned.
    public var nextOffset: UInt64

    public init(bytes: [UInt8], nextOffset: UInt64) {
        self.bytes = bytes
        self.nextOffset = nextOffset
    }
}

/// A failed action, naming the host, the object and the cause (libvirt's own message).
public struct HostError: Error, Sendable, CustomStringConvertible {
    public let host: String
    public let object: String
    public let cause: String
    /// Whether trying again may help (a lost connection, a busy pool) or not (a refusal).
    public let transient: Bool

    public init(host: String, object: String, cause: String, transient: Bool) {
        self.host = host
        self.object = object
        self.cause = cause
        self.transient = transient
    }

    public var description: String { "\(object) on \(host): \(cause)" }
}
