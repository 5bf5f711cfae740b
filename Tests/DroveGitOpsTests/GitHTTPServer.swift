import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization

/// A git server that needs credentials, on loopback only: git's own smart HTTP server
/// (`git http-backend`, a CGI program) behind HTTP basic authentication, which takes any user
/// name with `token` as the password. It serves the bare repositories below `root`, and
/// counts what it refused.
final class GitHTTPServer: Sendable {
    let root: URL
    let token: String
    private let refusals = Refusals()

    init(root: URL, token: String) {
        self.root = root
        self.token = token
    }

    var refused: Int { refusals.count }

    /// Runs the server on a free loopback port while `body` runs.
    func serve<T: Sendable>(_ body: @escaping @Sendable (_ port: Int) async throws -> T) async throws -> T {
        let router = Router()
        router.get("**") { [self] request, _ in try await answer(request) }
        router.post("**") { [self] request, _ in try await answer(request) }
        let application = Application(router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
                                      logger: Logger(label: "git-http", factory: { _ in SwiftLogNoOpLogHandler() }))
        return try await application.test(.live) { client in
            try await body(client.port!)
        }
    }

    private func answer(_ request: Request) async throws -> Response {
        guard authorized(request.headers[.authorization]) else {
            refusals.add()
            return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Basic realm=\"git\""])
        }
        let body = try await request.body.collect(upTo: 64 << 20)
        var environment = [
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": root.path,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": request.method.rawValue,
            "PATH_INFO": request.uri.path,
            "QUERY_STRING": request.uri.query ?? "",
            "CONTENT_TYPE": request.headers[.contentType] ?? "",
            "REMOTE_USER": "git",
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": root.path,
        ]
        if let encoding = request.headers[.contentEncoding] { environment["HTTP_CONTENT_ENCODING"] = encoding }
        if let version = request.headers[.init("Git-Protocol")!] { environment["GIT_PROTOCOL"] = version }
        let output = try await Self.cgi(environment: environment, input: Data(buffer: body))
        return Self.response(output)
    }

    private func authorized(_ header: String?) -> Bool {
        guard let header, header.hasPrefix("Basic "), let decoded = Data(base64Encoded: String(header.dropFirst(6))) else { return false }
        let credentials = String(decoding: decoded, as: UTF8.self)
        guard let colon = credentials.firstIndex(of: ":") else { return false }
        return credentials[credentials.index(after: colon)...] == token
    }

    /// Runs `git http-backend` on a thread of its own.
    private static func cgi(environment: [String: String], input: Data) async throws -> Data {
        let inputFile = FileManager.default.temporaryDirectory.appendingPathComponent("git-http-\(UUID().uuidString)")
        try input.write(to: inputFile)
        defer { try? FileManager.default.removeItem(at: inputFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/lib/git-core/git-http-backend")
        process.environment = environment.merging(["CONTENT_LENGTH": String(input.count)]) { _, new in new }
        process.standardInput = try FileHandle(forReadingFrom: inputFile)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: data)
            }
        }
    }

    /// A CGI answer: header lines, an empty line, the body.
    private static func response(_ output: Data) -> Response {
        let bytes = [UInt8](output)
        var headerEnd = bytes.count, bodyStart = bytes.count
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
            if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") { headerEnd = index; bodyStart = index + 2; break }
            if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == UInt8(ascii: "\n") {
                headerEnd = index; bodyStart = index + 3; break
            }
        }
        var status = HTTPResponse.Status.ok
        var headers = HTTPFields()
        for line in String(decoding: bytes[..<headerEnd], as: UTF8.self).split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.lowercased() == "status", let code = Int(value.prefix(3)) {
                status = HTTPResponse.Status(code: code)
            } else if let field = HTTPFields.Element.Name(name) {
                headers[field] = value
            }
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes[bodyStart...])))
    }
}

private final class Refusals: Sendable {
    private let value = Mutex(0)
    var count: Int { value.withLock { $0 } }
    func add() { value.withLock { $0 += 1 } }
}
