import DroveAPI
import DroveManifest
import DroveStore
import Foundation
import Hummingbird
import Logging
import Prometheus

/// Builds the API application (docs/api.md) without running it: `drove serve` runs it as a
/// service in its service group; tests drive it in-process with HummingbirdTesting.
///
/// - Throws: `ServerConfigurationError` when `configuration.validate()` refuses it (a
///   non-loopback address without a token, an unreadable token file, …). The token is read
///   once, here.
public func buildApplication(
    configuration: ServerConfiguration, store: Store, controller: any ControllerHandle,
    registry: PrometheusCollectorRegistry, logger: Logger
) throws(ServerConfigurationError) -> some ApplicationProtocol {
    let token = try configuration.validate()
    let metrics = ServerMetrics(registry: registry)
    let service = APIService(store: store, controller: controller, policy: configuration.manifestPolicy, logger: logger)
    let watch = WatchStream(store: store, heartbeat: configuration.heartbeatInterval, metrics: metrics, logger: logger)

    let router = Router(context: DroveRequestContext.self)
    // Middlewares first: a route takes the middlewares added before it.
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    // The portal's pages and forms authenticate by session, not by bearer token: before that
    // middleware. `portal.sessions` resolves a session cookie for the API.
    let portal = Portal(configuration: PortalConfiguration(authenticate: { candidate in
        // No token file: the server listens on loopback only, and anyone there is admin, as in the API.
        guard let token else { return .admin }
        return BearerTokenMiddleware<DroveRequestContext>.constantTimeEqual(Array(candidate.utf8), Array(token.utf8)) ? .admin : nil
    }), service: service, maxFormBytes: configuration.maxBodyBytes)
    portal.register(on: router)
    router.add(middleware: JSONErrorMiddleware(maxBodyBytes: configuration.maxBodyBytes, logger: logger))
    router.add(middleware: BearerTokenMiddleware(token: token))
    router.add(middleware: BodyLimitMiddleware(maxBodyBytes: configuration.maxBodyBytes))
    APIRoutes(service: service, watch: watch, registry: registry, maxBodyBytes: configuration.maxBodyBytes).register(on: router)

    return Application(
        router: router,
        configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "drove"),
        logger: logger)
}

/// The routes: each decodes its request, calls `APIService`, and encodes the answer.
struct APIRoutes: Sendable {
    let service: APIService
    let watch: WatchStream
    let registry: PrometheusCollectorRegistry
    let maxBodyBytes: Int

    func register(on router: Router<DroveRequestContext>) {
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("/metrics") { [registry] _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }

        let api = router.group(RouterPath(APIPaths.base))
        api.post("apply") { request, context in
            let sources = try await sources(of: request, context: context)
            return JSONResponse.make(.ok, try await service.apply(sources))
        }
        api.post("plan") { request, context in
            let sources = try await sources(of: request, context: context)
            return JSONResponse.make(.ok, try await service.plan(sources))
        }
        api.post("delete") { request, context in
            let body: APIDeleteRequest = try await decodeJSON(request, context: context)
            let references = try body.objects.map { try reference(kind: $0.kind, name: $0.name) }
            let results = try await service.delete(references)
            return JSONResponse.make(.accepted, APIDeleteResponse(results: zip(results, references).map { APIService.render($0, for: $1) }))
        }
        // `{kind}`, not `gitsources`: the router matches a literal segment before a parameter
        // and never falls back, so a literal here would hide GET /api/v1/gitsources.
        api.post("{kind}/{name}/sync") { _, context in
            let object = try reference(context)
            guard object.kind == .gitSource else { throw APIError(.notFound, "only gitsources sync (POST /api/v1/gitsources/NAME/sync)") }
            return JSONResponse.make(.accepted, try await service.sync(object.name))
        }
        // Authenticated by its signature, not the bearer token (see BearerTokenMiddleware).
        api.post("hooks/{name}") { request, context in
            let body = try await body(of: request)
            return JSONResponse.make(.accepted, try await service.webhook(context.parameters.get("name") ?? "", headers: request.headers,
                                                                          body: Array(buffer: body)))
        }
        api.get("events") { request, _ in
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
            return JSONResponse.make(.ok, try await events(request, object: object))
        }
        api.get("watch") { request, _ in
            let after = try integer(request, "after", default: nil, atLeast: 0)
                ?? request.headers[.init("Last-Event-ID")!].flatMap { Int64($0) }
            return watch.response(after: after)
        }
        api.get("vms") { request, _ in
            JSONResponse.make(.ok, await service.vms(set: request.uri.queryParameters["vmset"].map(String.init)))
        }
        api.get("vms/{name}/log") { request, context in
            let offset = try integer(request, "offset", default: 0, atLeast: 0) ?? 0
            let log = try await service.consoleLog(vm: context.parameters.get("name") ?? "", from: UInt64(offset))
            var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
            headers[.init(APIPaths.logOffsetHeader)!] = String(log.nextOffset)
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: log.bytes)))
        }
        api.get("{kind}") { _, context in
            JSONResponse.make(.ok, try await service.list(try kind(context)))
        }
        api.get("{kind}/{name}") { _, context in
            JSONResponse.make(.ok, try await service.get(try reference(context)))
        }
        api.get("{kind}/{name}/events") { request, context in
            let object = try reference(context)
            return JSONResponse.make(.ok, try await events(request, object: object))
        }
        api.delete("{kind}/{name}") { _, context in
            let object = try reference(context)
            let result = try await service.delete([object])[0]
            if result == .notFound { throw APIError.notFound(object) }
            return JSONResponse.make(.accepted, APIService.render(result, for: object))
        }
    }

    // MARK: - Decoding requests

    func events(_ request: Request, object: ObjectReference?) async throws -> APIEventList {
        let after = try integer(request, "after", default: 0, atLeast: 0) ?? 0
        let limit = try integer(request, "limit", default: Int64(APIService.defaultEventPage), atLeast: 1) ?? 100
        let tail = try integer(request, "tail", default: nil, atLeast: 1)
        return try await service.events(after: after, limit: Int(clamping: limit), tail: tail.map { Int(clamping: $0) }, object: object)
    }

    func integer(_ request: Request, _ name: String, default value: Int64?, atLeast minimum: Int64) throws -> Int64? {
        guard let text = request.uri.queryParameters[Substring(name)] else { return value }
        guard let number = Int64(text), number >= minimum else {
            throw APIError(.badRequest, "query parameter \(name)=\(text) is not a whole number of at least \(minimum)")
        }
        return number
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
            throw APIError(.badRequest, "the request body is not the JSON expected: \(Self.describe(error))")
        }
    }

    /// The manifest files of an apply or plan: a YAML body (one file, named by `?name=`, its
    /// relative template paths resolved against `?base=`), or a JSON `{"sources": [...]}`.
    func sources(of request: Request, context: DroveRequestContext) async throws -> [ManifestSource] {
        let type = request.headers[.contentType].map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased() }
        let workingDirectory = FileManager.default.currentDirectoryPath
        switch type {
        case "application/json":
            let body: APISources = try await decodeJSON(request, context: context)
            guard !body.sources.isEmpty else { throw APIError(.badRequest, "the request has no sources") }
            return try body.sources.map { source in
                ManifestSource(name: source.name, text: source.text,
                               baseDirectory: try baseDirectory(source.baseDirectory, for: source.name) ?? workingDirectory)
            }
        case nil, "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain":
            let bytes = try await body(of: request)
            let query = request.uri.queryParameters
            let name = query["name"].map(String.init) ?? "<request>"
            let base = try baseDirectory(query["base"].map(String.init), for: name) ?? workingDirectory
            return [ManifestSource(name: name, bytes: Array(buffer: bytes), baseDirectory: base)]
        case let other?:
            throw APIError(.unsupportedMediaType, "Content-Type \(other) is not accepted: send application/yaml, or application/json {\"sources\": [...]}")
        }
    }

    func baseDirectory(_ path: String?, for source: String) throws -> String? {
        guard let path else { return nil }
        guard path.hasPrefix("/") else {
            throw APIError(.badRequest, "\(source): base directory \"\(path)\" is not absolute")
        }
        return path
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, context):
            "missing field \(Self.path(context.codingPath + [key]))"
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            "wrong type at \(Self.path(context.codingPath)): \(context.debugDescription)"
        case let DecodingError.dataCorrupted(context):
            context.codingPath.isEmpty ? "not valid JSON" : "bad value at \(Self.path(context.codingPath)): \(context.debugDescription)"
        default:
            "\(error)"
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
}
