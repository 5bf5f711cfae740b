import DroveAPI
import DroveManifest
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What talking to the API can fail with; each names the server or the object and the cause.
public enum ClientError: Error, CustomStringConvertible {
    /// Nothing answers at the address (or the connection broke).
    case unreachable(server: String, reason: String)
    /// The API answered with an error; for invalid manifests (422) with every diagnostic.
    case api(status: Int, message: String, diagnostics: [APIDiagnostic])
    /// The answer is not what this client understands (another program on the port?).
    case badResponse(server: String, reason: String)
    case tokenFile(path: String, reason: String)
    /// A wrong argument found only when running.
    case usage(String)

    public var description: String {
        switch self {
        case let .unreachable(server, reason):
            "cannot reach the Drove API at \(server): \(reason)\n"
                + "Is the controller running? Start it with `drove serve`, or point --server (or DROVE_SERVER) at it."
        case let .api(_, message, diagnostics):
            diagnostics.isEmpty ? message : diagnostics.map(\.text).joined(separator: "\n")
        case let .badResponse(server, reason):
            "\(server) did not answer like the Drove API: \(reason)"
        case let .tokenFile(path, reason):
            "token file \(path): \(reason)"
        case let .usage(message):
            message
        }
    }

    /// The HTTP status of an API error answer.
    public var status: Int? {
        if case let .api(status, _, _) = self { return status }
        return nil
    }
}

/// The Drove API over HTTP (URLSession), JSON in and out: one method per call, each returning
/// the wire type of `DroveAPI` or throwing a `ClientError`.
public struct APIClient: Sendable {
    /// Where `drove serve` listens unless told otherwise.
    public static let defaultServer = "http://127.0.0.1:7480"

    public let server: URL
    /// The bearer token every mutation presents; nil when the server needs none.
    public let token: String?

    public init(server: URL, token: String? = nil) {
        self.server = server
        self.token = token
    }

    /// The client every CLI verb uses: `server`, else `$DROVE_SERVER`, else `defaultServer`; the
    /// token read from `tokenFile`, else `$DROVE_TOKEN_FILE`, else none.
    public static func configured(
        server: String?, tokenFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ClientError) -> APIClient {
        let address = server ?? environment["DROVE_SERVER"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultServer
        guard let url = URL(string: address.hasSuffix("/") ? String(address.dropLast()) : address), url.scheme != nil else {
            throw .usage("DROVE_SERVER=\(address) is not a URL; write it like \(defaultServer)")
        }
        var token: String?
        if let path = tokenFile ?? environment["DROVE_TOKEN_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw .tokenFile(path: path, reason: "cannot read it")
            }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { throw .tokenFile(path: path, reason: "it is empty") }
            token = trimmed
        }
        return APIClient(server: url, token: token)
    }

    // MARK: - Calls

    /// `POST /api/v1/apply`: stores the objects the sources declare. Invalid manifests throw
    /// `.api` with status 422 and every diagnostic.
    public func apply(_ sources: [APISource]) async throws(ClientError) -> APIApplyResponse {
        try await post("\(APIPaths.base)/apply", json: APISources(sources: sources))
    }

    /// `POST /api/v1/plan`: what the controller would do if the sources were applied.
    public func plan(_ sources: [APISource]) async throws(ClientError) -> APIPlan {
        try await post("\(APIPaths.base)/plan", json: APISources(sources: sources))
    }

    /// `POST /api/v1/delete`: marks the objects for deletion in one transaction; one result
    /// per reference, in order.
    public func delete(_ references: [ObjectReference]) async throws(ClientError) -> APIDeleteResponse {
        try await post("\(APIPaths.base)/delete", json: APIDeleteRequest(objects: references.map(APIReference.init)))
    }

    /// `POST /api/v1/gitsources/{name}/sync`: asks for a sync of a GitSource now.
    public func sync(gitSource name: String) async throws(ClientError) -> APISyncResponse {
        try await post(APIPaths.sync(gitSource: name), json: [String: String]())
    }

    /// Every object of `kind`.
    public func objects(_ kind: ObjectKind) async throws(ClientError) -> [APIObject] {
        try await get("\(APIPaths.base)/\(APIPaths.segment(kind))", as: APIObjectList.self).items
    }

    /// One object; a missing one throws the API's 404.
    public func object(_ reference: ObjectReference) async throws(ClientError) -> APIObject {
        try await get(Self.path(reference))
    }

    /// One object, or nil when the API says it does not exist.
    public func objectIfPresent(_ reference: ObjectReference) async throws(ClientError) -> APIObject? {
        do {
            return try await object(reference)
        } catch {
            if error.status == 404 { return nil }
            throw error
        }
    }

    /// The `drove serve` replicas sharing the store, and which leads.
    public func controllers() async throws(ClientError) -> APIControllerList {
        try await get("\(APIPaths.base)/controllers", as: APIControllerList.self)
    }

    /// The VMs of one VM set, or of all when `set` is nil.
    public func vms(of set: String?) async throws(ClientError) -> [VMSummary] {
        try await get("\(APIPaths.base)/vms", query: set.map { ["vmset": $0] } ?? [:], as: APIVMList.self).items
    }

    /// A VM's console log from byte `offset`, with the offset to continue from.
    public func consoleLog(vm name: String, from offset: UInt64) async throws(ClientError) -> APIConsoleLog {
        var request = URLRequest(url: url(APIPaths.consoleLog(vm: name), query: ["offset": String(offset)]))
        request.setValue("text/plain", forHTTPHeaderField: "Accept")
        let (data, response) = try await exchange(request)
        guard let next = response.value(forHTTPHeaderField: APIPaths.logOffsetHeader).flatMap(UInt64.init) else {
            throw .badResponse(server: server.absoluteString, reason: "the log came without a valid \(APIPaths.logOffsetHeader) header")
        }
        return APIConsoleLog(bytes: Array(data), nextOffset: next)
    }

    /// The newest `tail` events of one object, or of all when `object` is nil.
    public func events(of object: ObjectReference?, tail: Int) async throws(ClientError) -> APIEventList {
        try await get(object.map { "\(Self.path($0))/events" } ?? "\(APIPaths.base)/events", query: ["tail": String(tail)])
    }

    // MARK: - Users

    public func users() async throws(ClientError) -> [APIUser] {
        try await get(APIPaths.users, as: APIUserList.self).items
    }

    public func addUser(_ name: String, role: Role) async throws(ClientError) -> APIUserToken {
        try await post(APIPaths.users, json: APINewUser(name: name, role: role))
    }

    public func removeUser(_ name: String) async throws(ClientError) {
        var request = URLRequest(url: url("\(APIPaths.users)/\(name)"))
        request.httpMethod = "DELETE"
        _ = try await send(request)
    }

    public func rotateToken(ofUser name: String) async throws(ClientError) -> APIUserToken {
        try await post("\(APIPaths.users)/\(name)/rotate", json: [String: String]())
    }

    // MARK: - HTTP

    static func path(_ reference: ObjectReference) -> String {
        "\(APIPaths.base)/\(APIPaths.segment(reference.kind))/\(reference.name)"
    }

    func url(_ path: String, query: [String: String] = [:]) -> URL {
        var components = URLComponents(url: server, resolvingAgainstBaseURL: false)!
        components.path = (components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path) + path
        if !query.isEmpty {
            components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        }
        return components.url!
    }

    func get<T: Decodable>(_ path: String, query: [String: String] = [:], as type: T.Type = T.self) async throws(ClientError) -> T {
        try decode(T.self, try await send(URLRequest(url: url(path, query: query))))
    }

    func post<T: Decodable>(_ path: String, json body: some Encodable, as type: T.Type = T.self) async throws(ClientError) -> T {
        var request = URLRequest(url: url(path))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        do {
            request.httpBody = try APIJSON.encoder().encode(body)
        } catch {
            throw .usage("cannot encode the request: \(error)")
        }
        return try decode(T.self, try await send(request))
    }

    /// Sends `request` with the token; returns the body of a 2xx answer, throws the API's error
    /// for any other.
    func send(_ request: URLRequest) async throws(ClientError) -> Data {
        try await exchange(request).data
    }

    /// `send`, also giving the answer's headers.
    func exchange(_ request: URLRequest) async throws(ClientError) -> (data: Data, response: HTTPURLResponse) {
        var request = request
        if request.value(forHTTPHeaderField: "Accept") == nil { request.setValue("application/json", forHTTPHeaderField: "Accept") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        request.timeoutInterval = 120
        let data: Data, response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw .unreachable(server: server.absoluteString, reason: Self.reason(error))
        }
        guard let http = response as? HTTPURLResponse else {
            throw .badResponse(server: server.absoluteString, reason: "not an HTTP answer")
        }
        guard (200..<300).contains(http.statusCode) else {
            throw Self.apiError(status: http.statusCode, body: data, server: server.absoluteString)
        }
        return (data, http)
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws(ClientError) -> T {
        do {
            return try APIJSON.decoder().decode(T.self, from: data)
        } catch {
            throw .badResponse(server: server.absoluteString, reason: "unexpected JSON (\(error))")
        }
    }

    static func apiError(status: Int, body: Data, server: String) -> ClientError {
        if let error = try? APIJSON.decoder().decode(APIErrorBody.self, from: body) {
            return .api(status: status, message: error.error, diagnostics: error.errors ?? [])
        }
        let text = String(decoding: body.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return .api(status: status, message: "HTTP \(status) from \(server)\(text.isEmpty ? "" : ": \(text)")", diagnostics: [])
    }

    static func reason(_ error: any Error) -> String {
        if let error = error as? URLError {
            switch error.code {
            case .cannotConnectToHost: return "connection refused"
            case .cannotFindHost: return "unknown host"
            case .timedOut: return "timed out"
            case .networkConnectionLost: return "the connection was lost"
            default: return error.localizedDescription
            }
        }
        return error.localizedDescription
    }
}
