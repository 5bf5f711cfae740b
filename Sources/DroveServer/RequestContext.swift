import DroveAPI
import Hummingbird
import NIOCore

/// The context of every request: who it acts for (set by `AuthenticationMiddleware`) and
/// where it came from.
public struct DroveRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Nil until authenticated; stays nil for an anonymous read from loopback.
    public var principal: Principal?
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Whether the peer is on this machine (127.0.0.0/8, ::1, or a unix socket). A request
    /// with no peer address at all never crossed a socket (an in-process test's channel):
    /// every TCP connection has one.
    public var fromLoopback: Bool {
        guard let remoteAddress else { return true }
        switch remoteAddress {
        case .unixDomainSocket: return true
        case let .v4(address): return address.host.hasPrefix("127.")
        case let .v6(address): return address.host == "::1" || address.host.hasPrefix("::ffff:127.")
        }
    }
}
