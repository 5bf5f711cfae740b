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
    /// The connection, for a response that outlives its request (the watch stream) to notice
    /// the client leaving.
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// Whether the peer is on this machine; see `isLoopback(_:)`.
    public var fromLoopback: Bool { Self.isLoopback(remoteAddress) }

    /// 127.0.0.0/8, ::1, an IPv4-mapped 127.x, or a unix socket. No peer address at all means
    /// the request never crossed a socket (an in-process test's channel): every TCP connection
    /// has one.
    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let address else { return true }
        if case .unixDomainSocket = address { return true }
        guard let ip = address.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}
