import DroveAPI
import Foundation

/// One signed-in browser: who it acts for and the token its forms must carry.
public struct PortalSession: Sendable, Hashable {
    /// The cookie value: 32 random bytes, hex.
    public let id: String
    public let principal: Principal
    /// Every POST of this session carries it (a hidden form field, or the `X-Drove-CSRF` header
    /// of the portal's scripts); 32 random bytes, hex.
    public let csrfToken: String
    let created: Date
    var lastUsed: Date
}

/// The portal's sessions, in memory only: a restart signs everyone out. A session ends at
/// sign-out, `lifetime` after sign-in, or after `idleTimeout` without a request.
public actor PortalSessions {
    public static let cookieName = "drove_session"
    /// The header the portal's scripts send their CSRF token in, for mutations through the API.
    public static let csrfHeader = "X-Drove-CSRF"

    let lifetime: Duration
    let idleTimeout: Duration
    /// Sessions kept at most; the oldest goes first (only holders of a valid token get one).
    let capacity: Int
    let now: @Sendable () -> Date
    private var sessions: [String: PortalSession] = [:]

    public init(lifetime: Duration = .seconds(12 * 3600), idleTimeout: Duration = .seconds(2 * 3600), capacity: Int = 10_000,
                now: @escaping @Sendable () -> Date = Date.init) {
        self.lifetime = lifetime
        self.idleTimeout = idleTimeout
        self.capacity = capacity
        self.now = now
    }

    /// A new session for `principal`.
    func create(for principal: Principal) -> PortalSession {
        removeExpired()
        if sessions.count >= capacity, let oldest = sessions.values.min(by: { $0.created < $1.created }) {
            sessions[oldest.id] = nil
        }
        let time = now()
        let session = PortalSession(id: Self.randomToken(), principal: principal, csrfToken: Self.randomToken(), created: time, lastUsed: time)
        sessions[session.id] = session
        return session
    }

    /// The live session with this id, marked as used now; nil when there is none or it expired.
    func session(id: String) -> PortalSession? {
        guard var session = sessions[id] else { return nil }
        let time = now()
        guard !expired(session, at: time) else {
            sessions[id] = nil
            return nil
        }
        session.lastUsed = time
        sessions[id] = session
        return session
    }

    func remove(id: String) {
        sessions[id] = nil
    }

    /// Who a request acts for, from its `Cookie` header, for reads through the API.
    public func principal(forCookie header: String) -> Principal? {
        Self.sessionID(inCookieHeader: header).flatMap { session(id: $0) }?.principal
    }

    /// Who a request acts for, from its `Cookie` header and the CSRF token it carries (the
    /// `X-Drove-CSRF` header): mutations through the API must use this one, so that a page
    /// of another site cannot act with the cookie.
    public func principal(forCookie header: String, csrfToken: String?) -> Principal? {
        guard let csrfToken, let session = Self.sessionID(inCookieHeader: header).flatMap({ session(id: $0) }),
              Self.constantTimeEqual(csrfToken, session.csrfToken) else { return nil }
        return session.principal
    }

    private func expired(_ session: PortalSession, at time: Date) -> Bool {
        time.timeIntervalSince(session.created) >= lifetime.timeInterval || time.timeIntervalSince(session.lastUsed) >= idleTimeout.timeInterval
    }

    private func removeExpired() {
        let time = now()
        sessions = sessions.filter { !expired($0.value, at: time) }
    }

    /// The value of `drove_session` in a `Cookie` header (`a=1; drove_session=…`).
    static func sessionID(inCookieHeader header: String) -> String? {
        cookie(named: cookieName, in: header)
    }

    static func cookie(named name: String, in header: String) -> String? {
        for pair in header.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// 32 bytes from the system's cryptographic generator (getrandom on Linux), as hex.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    /// Compares without stopping at the first difference, so timing reveals no prefix.
    static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
        UserToken.constantTimeEqual(Array(lhs.utf8), Array(rhs.utf8))
    }
}

extension Duration {
    /// The duration in seconds, as `Date` arithmetic wants it.
    var timeInterval: TimeInterval {
        TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
    }
}
