import ArgumentParser
import DroveAPI
import DroveServer
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where the Drove API is and how to prove who we are: shared by every verb that talks to it.
struct ClientOptions: ParsableArguments {
    static let defaultServer = "http://127.0.0.1:7480"

    @Option(help: ArgumentHelp("The Drove API to talk to (default: $DROVE_SERVER, else \(ClientOptions.defaultServer)).", valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("A file holding the API's bearer token, needed to change anything (default: $DROVE_TOKEN_FILE).", valueName: "path"))
    var tokenFile: String?

    func validate() throws {
        if let server, URL(string: server)?.scheme == nil {
            throw ValidationError("--server \(server) is not a URL; write it like \(Self.defaultServer)")
        }
    }

    /// A client for the chosen server, with the token read (if a token file was named).
    func client() throws(ClientError) -> APIClient {
        let environment = ProcessInfo.processInfo.environment
        let address = server ?? environment["DROVE_SERVER"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultServer
        guard let url = URL(string: address.hasSuffix("/") ? String(address.dropLast()) : address), url.scheme != nil else {
            throw .usage("DROVE_SERVER=\(address) is not a URL; write it like \(Self.defaultServer)")
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
}

/// What talking to the API can fail with; each names the server or the object and the cause.
enum ClientError: Error, CustomStringConvertible {
    /// Nothing answers at the address (or the connection broke).
    case unreachable(server: String, reason: String)
    /// The API answered with an error.
    case api(status: Int, message: String, diagnostics: [APIDiagnostic])
    /// The answer is not what this client understands (another program on the port?).
    case badResponse(server: String, reason: String)
    case tokenFile(path: String, reason: String)
    /// A wrong argument found only when running.
    case usage(String)

    var description: String {
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

    var status: Int? {
        if case let .api(status, _, _) = self { return status }
        return nil
    }

    /// Prints the error and turns it into the process' exit code: 2 for usage, 1 otherwise.
    func exit() -> ExitCode {
        Terminal.error("error: \(self)")
        if case .usage = self { return ExitCode(2) }
        return ExitCode(1)
    }
}

/// Runs a verb's body, printing a `ClientError` and exiting with its code.
func reportingClientErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ClientError {
        throw error.exit()
    }
}

/// The Drove API over HTTP (URLSession), JSON in and out.
struct APIClient: Sendable {
    let server: URL
    let token: String?

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

    func delete<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws(ClientError) -> T {
        var request = URLRequest(url: url(path))
        request.httpMethod = "DELETE"
        return try decode(T.self, try await send(request))
    }

    /// Sends `request` with the token; returns the body of a 2xx answer, throws the API's error
    /// for any other.
    func send(_ request: URLRequest) async throws(ClientError) -> Data {
        var request = request
        request.setValue("application/json", forHTTPHeaderField: "Accept")
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
        return data
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
