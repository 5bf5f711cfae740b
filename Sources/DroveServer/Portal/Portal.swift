import DroveAPI
import Foundation
import Hummingbird

/// How the portal signs people in and guards its cookies.
public struct PortalConfiguration: Sendable {
    /// Who a token belongs to; nil for a token nobody holds.
    public var authenticate: @Sendable (String) async -> Principal?
    /// Marks cookies `Secure`: set it when the server answers over TLS.
    public var secureCookies: Bool
    public var sessionLifetime: Duration
    public var idleTimeout: Duration

    public init(authenticate: @escaping @Sendable (String) async -> Principal?, secureCookies: Bool = false,
                sessionLifetime: Duration = .seconds(12 * 3600), idleTimeout: Duration = .seconds(2 * 3600)) {
        self.authenticate = authenticate
        self.secureCookies = secureCookies
        self.sessionLifetime = sessionLifetime
        self.idleTimeout = idleTimeout
    }
}

/// The web portal at `/` (docs/portal.md): pages rendered on the server from what `APIService`
/// answers, sessions signed in with a token, every form guarded by its session's CSRF token.
public struct Portal: Sendable {
    /// The signed-in browsers; the API can resolve a session cookie through it.
    public let sessions: PortalSessions
    let configuration: PortalConfiguration
    let routes: PortalRoutes

    init(configuration: PortalConfiguration, service: APIService, maxFormBytes: Int) {
        self.configuration = configuration
        sessions = PortalSessions(lifetime: configuration.sessionLifetime, idleTimeout: configuration.idleTimeout)
        routes = PortalRoutes(api: PortalAPI(service: service), sessions: sessions, configuration: configuration,
                              renderer: PortalRenderer(), maxFormBytes: maxFormBytes)
    }

    /// Adds the portal's routes. Add them before the API's bearer-token middleware: pages and
    /// forms authenticate by session instead.
    func register(on router: Router<DroveRequestContext>) {
        routes.register(on: router)
    }
}
