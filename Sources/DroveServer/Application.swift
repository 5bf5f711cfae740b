import DroveAPI
import DroveManifest
import DroveStore
import DroveTemplateStore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import Prometheus

/// Builds the API application (docs/api.md) without running it: `drove serve` runs it as a
/// service in its service group; tests drive it in-process with HummingbirdTesting.
///
/// - Throws: `ServerConfigurationError` when `configuration.validate()` refuses it (a
///   non-loopback address without a token, an unreadable token file, …). The token is read
///   once, here.
///
/// `templateStore` receives template pushes; nil: pushes are refused (the manifest policy's
/// `templateStore` should then be nil too).
///
/// `onListening` runs once the server listens (for systemd's readiness notification).
public func buildApplication(
    configuration: ServerConfiguration, store: Store, controller: any ControllerHandle,
    registry: PrometheusCollectorRegistry, logger: Logger, templateStore: TemplateBlobStore? = nil,
    onListening: @escaping @Sendable () async -> Void = {}
) throws(ServerConfigurationError) -> some ApplicationProtocol {
    let router = try buildRouter(configuration: configuration, store: store, controller: controller, registry: registry, logger: logger,
                                 templateStore: templateStore)
    return Application(
        router: router, server: try configuration.serverBuilder(),
        configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "drove"),
        onServerRunning: { _ in await onListening() },
        logger: logger)
}

/// Every route of the server (the API, the portal, `/healthz`, `/metrics`) and its
/// middlewares. Apart from `buildApplication` so that `router.routes` can be checked against
/// docs/openapi.yaml.
func buildRouter(
    configuration: ServerConfiguration, store: Store, controller: any ControllerHandle,
    registry: PrometheusCollectorRegistry, logger: Logger, templateStore: TemplateBlobStore?
) throws(ServerConfigurationError) -> Router<DroveRequestContext> {
    let token = try configuration.validate()
    let authenticator = Authenticator(adminToken: token, store: store)
    let metrics = ServerMetrics(registry: registry)
    let service = APIService(store: store, controller: controller, policy: configuration.manifestPolicy, logger: logger)
    let watch = WatchStream(store: store, heartbeat: configuration.heartbeatInterval, metrics: metrics, logger: logger)

    let router = Router(context: DroveRequestContext.self)
    // Middlewares first: a route takes the middlewares added before it.
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    // Every body, the portal's forms too, must come at a minimum rate.
    router.add(middleware: SlowBodyMiddleware(grace: configuration.idleTimeout, minimumBytesPerSecond: configuration.minimumBodyBytesPerSecond))
    // The portal's pages and forms authenticate by session, not by bearer token: before that
    // middleware. `portal.sessions` resolves a session cookie for the API.
    let portal = Portal(configuration: PortalConfiguration(authenticate: { candidate in
        // Without a token file anyone on loopback is the admin, as in the API; a user's token is that user.
        await authenticator.principal(forToken: candidate) ?? (authenticator.isOpen ? .admin : nil)
    }, secureCookies: configuration.tlsCertificate != nil), service: service, maxFormBytes: configuration.maxBodyBytes)
    portal.register(on: router)
    router.add(middleware: JSONErrorMiddleware(maxBodyBytes: configuration.maxBodyBytes, logger: logger))
    router.add(middleware: AuthenticationMiddleware(authenticator: authenticator, sessions: portal.sessions))
    router.add(middleware: BodyLimitMiddleware(maxBodyBytes: configuration.maxBodyBytes))
    APIRoutes(service: service, users: UserService(store: store, logger: logger), watch: watch, registry: registry,
              maxBodyBytes: configuration.maxBodyBytes,
              templatePush: TemplatePush(service: service, blobs: templateStore, maxBytes: configuration.maxTemplateBytes)).register(on: router)
    return router
}

extension ServerConfiguration {
    /// Plain HTTP/1.1, or HTTP/1.1 over TLS with the configured certificate and key. Either way
    /// a connection that sends nothing for `idleTimeout` (between requests, or in the middle
    /// of a request's head or body: a slowloris client) is closed; one whose request is being
    /// answered (a watch stream) is not.
    func serverBuilder() throws(ServerConfigurationError) -> HTTPServerBuilder {
        let http1 = HTTPServerBuilder.http1(configuration: HTTP1Channel.Configuration(idleTimeout: TimeAmount(idleTimeout)))
        guard let tlsCertificate, let tlsKey else { return http1 }
        let chain: [NIOSSLCertificate], key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(tlsCertificate)
        } catch {
            throw .unreadableTLSFile(path: tlsCertificate, reason: "not a PEM certificate chain (\(error))")
        }
        do {
            key = try NIOSSLPrivateKey(file: tlsKey, format: .pem)
        } catch {
            throw .unreadableTLSFile(path: tlsKey, reason: "not a PEM private key (\(error))")
        }
        let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        do {
            return try .tls(http1, tlsConfiguration: tls)
        } catch {
            throw .unreadableTLSFile(path: tlsCertificate, reason: "\(error)")
        }
    }
}

/// The routes: each decodes its request, calls `APIService`, and encodes the answer.
struct APIRoutes: Sendable {
    let service: APIService
    let users: UserService
    let watch: WatchStream
    let registry: PrometheusCollectorRegistry
    let maxBodyBytes: Int
    let templatePush: TemplatePush

    func register(on router: Router<DroveRequestContext>) {
        router.get("/healthz") { [service] _, _ in
            // Both roles serve the API: a follower is healthy. The role is said for operators.
            let health = await service.controller.health()
            var text = "ok\nrole: \(health.role.rawValue)\nidentity: \(health.identity)\n"
            if let leader = health.leader { text += "leader: \(leader)\n" }
            if let age = health.leaseAgeSeconds { text += "lease renewed: \(String(format: "%.1f", age)) s ago\n" }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/metrics") { [registry] _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }

        let api = router.group(RouterPath(APIPaths.base))
        api.post("apply") { request, context in
            let principal = try principal(context)
            try Access.requireDeployer(principal, to: "apply manifests")
            let sources = try await sources(of: request, context: context)
            return JSONResponse.make(.ok, try await service.apply(sources, as: principal))
        }
        api.post("plan") { request, context in
            let sources = try await sources(of: request, context: context)
            return JSONResponse.make(.ok, try await service.plan(sources, as: try principal(context)))
        }
        api.post("delete") { request, context in
            let body: APIDeleteRequest = try await decodeJSON(request, context: context)
            let references = try body.objects.map { try reference(kind: $0.kind, name: $0.name) }
            let results = try await service.delete(references, as: try principal(context))
            return JSONResponse.make(.accepted, APIDeleteResponse(results: zip(results, references).map { APIService.render($0, for: $1) }))
        }
        // `{kind}`, not `gitsources`: the router matches a literal segment before a parameter
        // and never falls back, so a literal here would hide GET /api/v1/gitsources.
        api.post("{kind}/{name}/sync") { _, context in
            let object = try reference(context)
            guard object.kind == .gitSource else { throw APIError(.notFound, "only gitsources sync (POST /api/v1/gitsources/NAME/sync)") }
            return JSONResponse.make(.accepted, try await service.sync(object.name, as: try principal(context)))
        }
        // Authenticated by its signature, not the bearer token (see AuthenticationMiddleware).
        api.post("hooks/{name}") { request, context in
            let body = try await body(of: request)
            return JSONResponse.make(.accepted, try await service.webhook(context.parameters.get("name") ?? "", headers: request.headers,
                                                                          body: Array(buffer: body)))
        }
        templatePush.register(on: api)
        api.get("events") { request, context in
            let query = request.uri.queryParameters
            var object: ObjectReference?
            if let name = query["name"].map(String.init) {
                guard let kind = query["kind"].map(String.init) else {
                    throw APIError(.badRequest, "the name filter needs a kind filter too (kind=vmsets&name=\(name))")
                }
                object = try reference(kind: kind, name: name)
            } else if query["kind"] != nil {
                throw APIError(.badRequest, "the kind filter needs a name filter too; to list every event leave both out")
            }
            return JSONResponse.make(.ok, try await events(request, object: object, context: context))
        }
        api.get("watch") { request, context in
            let after = try integer(request, "after", default: nil, atLeast: 0)
                ?? request.headers[.init("Last-Event-ID")!].flatMap { Int64($0) }
            return watch.response(after: after, principal: try principal(context), connection: context.channel,
                                  access: { [service] principal async throws(APIError) in try await service.access(principal) })
        }
        api.get("controllers") { _, context in
            JSONResponse.make(.ok, try await service.replicas(as: try principal(context)))
        }
        api.get("vms") { request, context in
            JSONResponse.make(.ok, try await service.vms(set: request.uri.queryParameters["vmset"].map(String.init), as: try principal(context)))
        }
        api.get("vms/{name}/log") { request, context in
            let offset = try integer(request, "offset", default: 0, atLeast: 0) ?? 0
            let log = try await service.consoleLog(vm: context.parameters.get("name") ?? "", from: UInt64(offset), as: try principal(context))
            var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
            headers[.init(APIPaths.logOffsetHeader)!] = String(log.nextOffset)
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: log.bytes)))
        }
        registerUsers(on: api)
        api.get("{kind}") { _, context in
            JSONResponse.make(.ok, try await service.list(try kind(context), as: try principal(context)))
        }
        api.get("{kind}/{name}") { _, context in
            JSONResponse.make(.ok, try await service.get(try reference(context), as: try principal(context)))
        }
        api.get("{kind}/{name}/events") { request, context in
            let object = try reference(context)
            return JSONResponse.make(.ok, try await events(request, object: object, context: context))
        }
        api.delete("{kind}/{name}") { _, context in
            let object = try reference(context)
            let result = try await service.delete([object], as: try principal(context))[0]
            if result == .notFound { throw APIError.notFound(object) }
            return JSONResponse.make(.accepted, APIService.render(result, for: object))
        }
    }

    // MARK: - Decoding requests

    func events(_ request: Request, object: ObjectReference?, context: DroveRequestContext) async throws -> APIEventList {
        let after = try integer(request, "after", default: 0, atLeast: 0) ?? 0
        let limit = try integer(request, "limit", default: Int64(APIService.defaultEventPage), atLeast: 1) ?? 100
        let tail = try integer(request, "tail", default: nil, atLeast: 1)
        return try await service.events(after: after, limit: Int(clamping: limit), tail: tail.map { Int(clamping: $0) }, object: object,
                                        as: try principal(context))
    }

    func integer(_ request: Request, _ name: String, default value: Int64?, atLeast minimum: Int64) throws -> Int64? {
        guard let text = request.uri.queryParameters[Substring(name)] else { return value }
        guard let number = Int64(text), number >= minimum else {
            throw APIError(.badRequest, "query parameter \(name)=\(text) is not a whole number of at least \(minimum)")
        }
        return number
    }

    /// Who the request acts for; every route but `/healthz` and the webhooks has one.
    func principal(_ context: DroveRequestContext) throws -> Principal {
        guard let principal = context.principal else { throw APIError(.unauthorized, "the request is not authenticated") }
        return principal
    }

    func kind(_ context: DroveRequestContext) throws -> ObjectKind {
        let word = context.parameters.get("kind") ?? ""
        guard let kind = APIPaths.kind(word) else {
            throw APIError(.notFound, "unknown kind \"\(word)\": use \(APIPaths.kindWords)")
        }
        return kind
    }

    func reference(_ context: DroveRequestContext) throws -> ObjectReference {
        try reference(kind: context.parameters.get("kind") ?? "", name: context.parameters.get("name") ?? "")
    }

    func reference(kind word: String, name: String) throws -> ObjectReference {
        guard let kind = APIPaths.kind(word) ?? ObjectKind(rawValue: word) else {
            throw APIError(.notFound, "unknown kind \"\(word)\": use \(APIPaths.kindWords)")
        }
        return ObjectReference(kind: kind, name: name)
    }

    func body(of request: Request) async throws -> ByteBuffer {
        // Over the limit: NIO's too-many-bytes error, answered with 413 by the error middleware.
        try await request.body.collect(upTo: maxBodyBytes)
    }

    func decodeJSON<T: Decodable>(_ request: Request, context: DroveRequestContext) async throws -> T {
        let bytes = try await body(of: request)
        do {
            return try APIJSON.decoder().decode(T.self, from: Data(buffer: bytes))
        } catch {
            throw APIError(.badRequest, "the request body is not the JSON expected: \(APIJSON.describe(error))")
        }
    }

    /// The manifest files of an apply or plan (`APIApplyBody`): a YAML body (one file, named
    /// by `?name=`, its relative template paths resolved against `?base=`), or a JSON
    /// `{"sources": [...]}`; within the request's budget of documents and nodes.
    func sources(of request: Request, context: DroveRequestContext) async throws -> [ManifestSource] {
        let bytes = try await body(of: request)
        let query = request.uri.queryParameters
        return try Self.sources(contentType: request.headers[.contentType], name: query["name"].map(String.init),
                                base: query["base"].map(String.init), body: Array(buffer: bytes))
    }

    /// `APIApplyBody`'s refusals as the API answers them (a synchronous function: catching its
    /// typed error inside the async route crashed Swift 6.3's compiler).
    static func sources(contentType: String?, name: String?, base: String?, body: [UInt8]) throws(APIError) -> [ManifestSource] {
        do {
            return try APIApplyBody.sources(contentType: contentType, name: name, base: base, body: body,
                                            workingDirectory: FileManager.default.currentDirectoryPath)
        } catch {
            if !error.diagnostics.isEmpty { throw APIError.invalidManifests(error.diagnostics) }
            throw APIError(HTTPResponse.Status(code: error.status.rawValue), error.message)
        }
    }
}
