import DrovePlan
import Libvirt

/// One host as the executor drives it: observe it, carry out one action on it.
/// `LibvirtHost` is the real one; tests of the engine use an in-memory one.
public protocol HostDriver: Sendable {
    var name: String { get }
    /// Reads the host's state. Never throws: a host that cannot be read is reported unreachable.
    func observe() async -> ObservedHost
    /// Carries out one action, tolerating a half-done earlier attempt at it.
    func perform(_ action: Action, progress: TransferProgress?) async throws
    func close() async
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
