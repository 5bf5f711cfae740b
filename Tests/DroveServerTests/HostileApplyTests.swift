import DroveAPI
import DroveManifest
import DroveServer
import Foundation
import HostileCorpus
import Hummingbird
import HummingbirdTesting
import Testing

/// The hostile corpus (Tests/DroveManifestTests/Hostile) sent to `POST /api/v1/apply` of a
/// server configured as `drove serve` is by default (its policy, its 4 MiB body limit): each
/// case refused, naming file, line and column in `errors`, and nothing stored or enqueued.
@Suite("POST /api/v1/apply refuses the hostile corpus")
struct HostileApplyTests {
    static let bodyLimit = ServerConfiguration.defaultMaxBodyBytes

    @Test("as a YAML body and as JSON sources: 422 with the diagnostic, or 413 over the body limit; nothing stored",
          arguments: try HostileCorpus.cases())
    func refused(_ item: HostileCase) async throws {
        let bytes = try item.bytes()
        try await withRouterClient(maxBodyBytes: Self.bodyLimit, policy: HostileCorpus.servePolicy) { fixture, client in
            let yaml = try await client.execute(uri: "/api/v1/apply?name=\(item.fileName)&base=\(HostileCorpus.baseDirectory)", method: .post,
                                                headers: fixture.yamlHeaders(), body: ByteBuffer(bytes: bytes))
            try Self.expectRefusal(yaml, of: item, bodySize: bytes.count)

            // A JSON string carries text only: bytes that are not UTF-8 cannot be sent this way.
            if let text = String(validating: bytes, as: UTF8.self) {
                let body = try APIJSON.encoder().encode(APISources(sources: [
                    APISource(name: item.fileName, text: text, baseDirectory: HostileCorpus.baseDirectory),
                ]))
                let json = try await client.execute(uri: "/api/v1/apply", method: .post, headers: jsonHeaders(),
                                                    body: ByteBuffer(bytes: body))
                try Self.expectRefusal(json, of: item, bodySize: body.count)
            } else {
                #expect(item.code == DiagnosticCode.syntax.rawValue, "\(item.name) is not UTF-8 but not expected as a syntax error")
            }

            #expect(try await fixture.store.objects().isEmpty, "\(item.name) stored something")
            #expect(fixture.controller.enqueued.isEmpty)
        }
    }

    @Test("a template path through a symbolic link leading out of --template-dir: 422 at its line and column, nothing stored")
    func symlinkOutOfTemplateDirectory() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drove-hostile-\(UUID().uuidString)")
        let templates = directory.appendingPathComponent("templates")
        try FileManager.default.createDirectory(at: templates, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createSymbolicLink(atPath: templates.appendingPathComponent("escape.qcow2").path, withDestinationPath: "/etc/passwd")

        var policy = HostileCorpus.servePolicy
        policy.templateFiles = .under([templates.path])
        let manifest = "apiVersion: drove/v1\nkind: Template\nmetadata: { name: escape }\nspec: { source: { path: templates/escape.qcow2 } }\n"
        try await withRouterClient(policy: policy) { fixture, client in
            let response = try await client.execute(uri: "/api/v1/apply?name=escape.yaml&base=\(directory.path)", method: .post,
                                                    headers: fixture.yamlHeaders(), body: ByteBuffer(string: manifest))
            #expect(response.status == .unprocessableContent)
            let errors = try decode(APIErrorBody.self, response).errors ?? []
            #expect(errors.map { "\($0.file):\($0.line):\($0.column) \($0.code)" } == ["escape.yaml:4:25 refusedByPolicy"])
            #expect(try await fixture.store.objects().isEmpty)
        }
    }

    @Test("malformed requests are 400 (or 415), with a message and nothing stored", arguments: [
        MalformedRequest("not JSON", "application/json", #"{"sources": [{"name": "a.yaml", "text": "#, 400),
        MalformedRequest("JSON of the wrong shape", "application/json", #"{"sources": {"name": "a.yaml"}}"#, 400),
        MalformedRequest("no sources", "application/json", #"{"sources": []}"#, 400),
        MalformedRequest("a relative base directory", "application/json",
                         #"{"sources": [{"name": "a.yaml", "text": "kind: Host", "baseDirectory": "../etc"}]}"#, 400),
        MalformedRequest("a source named twice", "application/json",
                         #"{"sources": [{"name": "a.yaml", "text": "a: 1"}, {"name": "a.yaml", "text": "b: 1"}]}"#, 400),
        MalformedRequest("a raw NUL inside a JSON string", "application/json", "{\"sources\": [{\"name\": \"a\u{0}.yaml\", \"text\": \"a: 1\"}]}", 400),
        MalformedRequest("a YAML body declaring nothing", "application/yaml", "# nothing\n", 400),
        MalformedRequest("another media type", "application/xml", "<manifests/>", 415),
        // Once an index out of range (an empty split) that stopped the whole server.
        MalformedRequest("an empty Content-Type", "", "kind: Host\n", 415),
        MalformedRequest("a Content-Type of parameters only", "; charset=utf-8", "kind: Host\n", 415),
    ])
    func malformed(_ request: MalformedRequest) async throws {
        try await withRouterClient(policy: HostileCorpus.servePolicy) { fixture, client in
            var headers = fixture.authorized
            headers[.contentType] = request.contentType
            let response = try await client.execute(uri: "/api/v1/apply", method: .post, headers: headers, body: ByteBuffer(string: request.body))
            #expect(Int(response.status.code) == request.status, "\(text(response))")
            #expect(try decode(APIErrorBody.self, response).error.isEmpty == false)
            #expect(try await fixture.store.objects().isEmpty)
        }
    }

    /// 413 when the body is over the limit (the case is then never parsed), else 422 naming the
    /// case's diagnostic at its `file:line:column`.
    static func expectRefusal(_ response: TestResponse, of item: HostileCase, bodySize: Int) throws {
        let body = try decode(APIErrorBody.self, response)
        guard bodySize <= bodyLimit else {
            #expect(response.status == .contentTooLarge, "\(item.name): \(body.error)")
            return
        }
        #expect(response.status == .unprocessableContent, "\(item.name): \(body.error)")
        let errors = body.errors ?? []
        let match = errors.first { $0.code == item.code && $0.line == item.line && $0.column == item.column }
        #expect(match != nil, "\(item.name): expected \(item.code) at \(item.position), got \(errors.map(\.text))")
        #expect(match?.file == item.fileName)
        #expect(match.map { $0.text.hasPrefix(item.position + ": ") } == true)
    }
}

struct MalformedRequest: Sendable, CustomTestStringConvertible {
    var what: String
    var contentType: String
    var body: String
    var status: Int

    init(_ what: String, _ contentType: String, _ body: String, _ status: Int) {
        self.what = what
        self.contentType = contentType
        self.body = body
        self.status = status
    }

    var testDescription: String { what }
}

private func jsonHeaders() -> HTTPFields {
    [.contentType: "application/json", .authorization: "Bearer \(Fixture.token)"]
}
