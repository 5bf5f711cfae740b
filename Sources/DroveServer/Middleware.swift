import DroveAPI
import Foundation
import Hummingbird
import Logging
import Prometheus

/// Turns every error into a JSON answer `{"error": "..."}` with the error's status: the API's
/// own `APIError`s, Hummingbird's (404 for an unknown path, 413 for a body over the limit), and
/// anything else as 500 with its description.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBodyBytes: Int
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response()
        } catch let error as HTTPError {
            let message = error.body ?? Self.message(for: error.status, request: request, maxBodyBytes: maxBodyBytes)
            return APIError(error.status, message, headers: error.headers).response()
        } catch let error as any HTTPResponseError {
            return APIError(error.status, Self.message(for: error.status, request: request, maxBodyBytes: maxBodyBytes)).response()
        } catch {
            logger.error("request failed", metadata: [
                "http.method": "\(request.method)", "http.path": "\(request.uri.path)", "error": "\(error)",
            ])
            return APIError(.internalServerError, "\(request.method) \(request.uri.path): \(error)").response()
        }
    }

    static func message(for status: HTTPResponse.Status, request: Request, maxBodyBytes: Int) -> String {
        switch status {
        case .notFound: "no such path: \(request.method) \(request.uri.path) (see docs/api.md)"
        case .contentTooLarge: "the request body is larger than the limit of \(maxBodyBytes) bytes"
        case .methodNotAllowed: "\(request.method) is not allowed on \(request.uri.path)"
        default: "\(request.method) \(request.uri.path): \(status.reasonPhrase)"
        }
    }
}

/// Finds who each request acts for and puts it in `context.principal`; what that principal
/// may do is `APIService`'s concern (403), who it is is this one's (401).
///
/// - A request with `Authorization: Bearer <token>` acts for the token's user, or is refused.
/// - A portal session's cookie (the portal's own scripts): its user, for reads; for mutations
///   only with the session's CSRF token in `X-Drove-CSRF`, so another site's page cannot act.
/// - Without one: from loopback, the admin when the server has no token file (it then listens
///   on loopback only), else an anonymous viewer that may read; from anywhere else, refused.
/// - `/healthz` is open to all. Push webhooks (`POST /api/v1/hooks/NAME`) carry no token: git
///   servers cannot hold one, so each is authenticated by its signature instead (`Webhook`).
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = DroveRequestContext
    let authenticator: Authenticator
    let sessions: PortalSessions

    static var safeMethods: Set<HTTPRequest.Method> { [.get, .head, .options] }
    static let anonymous = Principal(name: "anonymous", role: .viewer)

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if request.uri.path == "/healthz" || Self.isWebhook(request) { return try await next(request, context) }
        if request.headers[.authorization] == nil, let cookie = request.headers[.cookie],
           let principal = await sessionPrincipal(cookie: cookie, request: request) {
            context.principal = principal
        } else {
            context.principal = try await Self.principal(
                authorization: request.headers[.authorization], fromLoopback: context.fromLoopback, method: request.method,
                what: "\(request.method) \(request.uri.path)", authenticator: authenticator)
        }
        return try await next(request, context)
    }

    private func sessionPrincipal(cookie: String, request: Request) async -> Principal? {
        if Self.safeMethods.contains(request.method) { return await sessions.principal(forCookie: cookie) }
        let csrf = request.headers[.init(PortalSessions.csrfHeader)!]
        return await sessions.principal(forCookie: cookie, csrfToken: csrf)
    }

    /// The principal of a request with this `Authorization` header (or none), from loopback or
    /// not; 401 when there is none it may act for.
    static func principal(authorization: String?, fromLoopback: Bool, method: HTTPRequest.Method, what: String,
                          authenticator: Authenticator) async throws(APIError) -> Principal {
        let challenge: HTTPFields = [.wwwAuthenticate: "Bearer realm=\"drove\""]
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer",
                  let principal = await authenticator.principal(forToken: parts[1].trimmingCharacters(in: .whitespaces)) else {
                throw APIError(.unauthorized, "\(what): the bearer token is not valid (wrong, removed or rotated)", headers: challenge)
            }
            return principal
        }
        guard fromLoopback else {
            throw APIError(.unauthorized, "\(what): every request from beyond this machine needs Authorization: Bearer <token>",
                           headers: challenge)
        }
        if authenticator.isOpen { return .admin }
        guard safeMethods.contains(method) else {
            throw APIError(.unauthorized, "\(what) changes the fleet and needs Authorization: Bearer <token> "
                + "(the CLI reads it from --token-file or DROVE_TOKEN_FILE)", headers: challenge)
        }
        return anonymous
    }

    /// `POST /api/v1/hooks/NAME` exactly: one segment after the prefix, so no other route can
    /// be reached by a path that merely starts like a webhook's.
    static func isWebhook(_ request: Request) -> Bool {
        let path = request.uri.path, prefix = APIPaths.hooks + "/"
        guard request.method == .post else { return false }
        guard path.hasPrefix(prefix) else { return false }
        let name = path.dropFirst(prefix.count)
        return !name.isEmpty && !name.contains("/") && !name.contains("%") && !name.contains("..")
    }
}

/// Refuses a body whose declared length is over the limit before reading any of it; a body
/// without a length is cut off at the limit when it is collected. A template push has a
/// limit of its own (`TemplatePush`).
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if !TemplatePush.isPush(request), let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            throw APIError(.contentTooLarge, "the request body is \(length) bytes, over the limit of \(maxBodyBytes) bytes")
        }
        return try await next(request, context)
    }
}

/// Counts answers by method and status in `drove_api_requests_total`.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        metrics.countRequest(method: request.method.rawValue, status: response.status.code)
        return response
    }
}
