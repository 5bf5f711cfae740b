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

/// Every mutation (`POST`, `PUT`, `PATCH`, `DELETE`) needs `Authorization: Bearer <token>`
/// when the server has a token; reads never do. Push webhooks (`/api/v1/hooks/…`) are the one
/// exception: git servers cannot hold Drove's token, so each is authenticated by its
/// signature, with the secret its GitSource names, instead (see `Webhook`).
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Nil: no token configured (the server then listens on loopback only).
    let token: String?

    static var mutatingMethods: Set<HTTPRequest.Method> { [.post, .put, .patch, .delete] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token, Self.mutatingMethods.contains(request.method), !Self.isWebhook(request) else {
            return try await next(request, context)
        }
        let challenge: HTTPFields = [.wwwAuthenticate: "Bearer realm=\"drove\""]
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, "\(request.method) \(request.uri.path) changes the fleet and needs Authorization: Bearer <token> "
                + "(the token is in the server's --token-file; the CLI reads it from --token-file or DROVE_TOKEN_FILE)", headers: challenge)
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
              Self.constantTimeEqual(Array(parts[1].trimmingCharacters(in: .whitespaces).utf8), Array(token.utf8)) else {
            throw APIError(.unauthorized, "\(request.method) \(request.uri.path): the bearer token is wrong", headers: challenge)
        }
        return try await next(request, context)
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

    /// Compares without stopping at the first difference, so timing does not reveal a prefix.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
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
