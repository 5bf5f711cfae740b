import DroveAPI
import DroveManifest
import DroveServer
import DroveStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Testing

@Suite("Tokens, body limits, listening addresses")
struct SecurityTests {
    @Test("a mutation without a token is refused with 401 and changes nothing")
    func missingToken() async throws {
        try await withRouterClient { fixture, client in
            let apply = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(authorized: false),
                                                 body: ByteBuffer(string: fleetYAML()))
            #expect(apply.status == .unauthorized)
            #expect(apply.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            #expect(try decode(APIErrorBody.self, apply).error.contains("Authorization: Bearer"))
            #expect(try await fixture.store.objects().isEmpty)
            #expect(fixture.controller.enqueued.isEmpty)

            // A DELETE without a token, of a set that is there, leaves it there.
            let applied = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML()))
            #expect(applied.status == .ok)
            let before = try #require(try await fixture.store.object(kind: .vmSet, name: "web"))
            #expect(!before.deletionRequested)
            let enqueued = fixture.controller.enqueued
            let delete = try await client.execute(uri: "/api/v1/vmsets/web", method: .delete)
            #expect(delete.status == .unauthorized)
            let after = try #require(try await fixture.store.object(kind: .vmSet, name: "web"), "the set is gone")
            #expect(!after.deletionRequested, "the set was marked for deletion")
            #expect(after.generation == before.generation && after.updatedAt == before.updatedAt)
            #expect(fixture.controller.enqueued == enqueued, "the set was queued for deletion")
            let plan = try await client.execute(uri: "/api/v1/plan", method: .post, headers: fixture.yamlHeaders(authorized: false),
                                                body: ByteBuffer(string: fleetYAML()))
            #expect(plan.status == .unauthorized)
        }
    }

    @Test("a wrong token, or another scheme, is refused with 401")
    func wrongToken() async throws {
        try await withRouterClient { fixture, client in
            for header in ["Bearer \(Fixture.token)x", "Bearer s3cret", "Basic \(Fixture.token)", Fixture.token] {
                let response = try await client.execute(uri: "/api/v1/apply", method: .post,
                                                        headers: [.contentType: "application/yaml", .authorization: header],
                                                        body: ByteBuffer(string: fleetYAML()))
                #expect(response.status == .unauthorized, "\(header)")
                #expect(try decode(APIErrorBody.self, response).error.contains("token"))
            }
            #expect(try await fixture.store.objects().isEmpty)
        }
    }

    @Test("reads need no token")
    func readsWithoutToken() async throws {
        try await withRouterClient { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML()))
            for path in ["/api/v1/vmsets", "/api/v1/vmsets/web", "/api/v1/events", "/api/v1/vms", "/metrics", "/healthz"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .ok, "\(path)")
            }
        }
    }

    @Test("a body over the limit is refused with 413, declared or not")
    func bodyTooLarge() async throws {
        try await withRouterClient(maxBodyBytes: 1024) { fixture, client in
            let big = fleetYAML() + "\n# " + String(repeating: "x", count: 2048) + "\n"
            var declared = fixture.yamlHeaders()
            declared[.contentLength] = String(big.utf8.count)
            let early = try await client.execute(uri: "/api/v1/apply", method: .post, headers: declared, body: ByteBuffer(string: big))
            #expect(early.status == .contentTooLarge)
            #expect(try decode(APIErrorBody.self, early).error.contains("1024 bytes"))

            let collected = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: big))
            #expect(collected.status == .contentTooLarge)
            #expect(try decode(APIErrorBody.self, collected).error.contains("1024"))
            #expect(try await fixture.store.objects().isEmpty)

            let small = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: hostYAML))
            #expect(small.status == .ok)
        }
    }

    @Test("listening beyond loopback without a token, or without TLS, is refused; with both, or on loopback, it is not")
    func validateListeningAddress() async throws {
        #expect(throws: ServerConfigurationError.tokenRequired(host: "0.0.0.0")) {
            try ServerConfiguration(host: "0.0.0.0").validate()
        }
        #expect(throws: ServerConfigurationError.tokenRequired(host: "192.168.1.20")) {
            try ServerConfiguration(host: "192.168.1.20").validate()
        }
        let message = ServerConfigurationError.tokenRequired(host: "0.0.0.0").description
        #expect(message.contains("0.0.0.0") && message.contains("--token-file"))
        for host in ["127.0.0.1", "127.8.0.1", "localhost", "::1", "[::1]"] {
            #expect(try ServerConfiguration(host: host).validate() == nil, "\(host)")
        }
        #expect(!ServerConfiguration(host: "127.0.0.1.example.org").isLoopback)
        #expect(!ServerConfiguration(host: "1270.0.0.1").isLoopback)
        try await withFixture { fixture in
            let token = fixture.configuration.tokenFile
            #expect(throws: ServerConfigurationError.tlsRequired(host: "0.0.0.0")) {
                try ServerConfiguration(host: "0.0.0.0", tokenFile: token).validate()
            }
            #expect(ServerConfigurationError.tlsRequired(host: "0.0.0.0").description.contains("--tls-cert"))
            let withTLS = try ServerConfiguration(host: "0.0.0.0", tokenFile: token, tlsCertificate: "/c.pem", tlsKey: "/k.pem").validate()
            #expect(withTLS == Fixture.token)
            #expect(throws: ServerConfigurationError.tlsIncomplete) {
                try ServerConfiguration(host: "127.0.0.1", tlsCertificate: "/c.pem").validate()
            }
        }
        #expect(throws: ServerConfigurationError.invalidPort(70000)) { try ServerConfiguration(port: 70000).validate() }
        #expect(throws: ServerConfigurationError.invalidBodyLimit(0)) { try ServerConfiguration(maxBodyBytes: 0).validate() }
    }

    @Test("a token file is read and trimmed; a missing or empty one is refused")
    func tokenFiles() async throws {
        try await withFixture { fixture in
            let configuration = ServerConfiguration(host: "127.0.0.1", tokenFile: fixture.configuration.tokenFile)
            #expect(try configuration.validate() == Fixture.token)

            let empty = fixture.directory + "/empty-token"
            try "\n  \n".write(toFile: empty, atomically: true, encoding: .utf8)
            #expect(throws: ServerConfigurationError.unreadableTokenFile(path: empty, reason: "the file is empty")) {
                try ServerConfiguration(tokenFile: empty).validate()
            }
            let missing = fixture.directory + "/no-such-token"
            #expect(throws: ServerConfigurationError.self) { try ServerConfiguration(tokenFile: missing).validate() }

            // buildApplication refuses what validate refuses.
            #expect(throws: ServerConfigurationError.tokenRequired(host: "0.0.0.0")) {
                _ = try buildApplication(configuration: ServerConfiguration(host: "0.0.0.0"), store: fixture.store,
                                         controller: fixture.controller, registry: PrometheusCollectorRegistry(),
                                         logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            }
        }
    }

    @Test("without a token file (loopback only) mutations need no token")
    func noTokenConfigured() async throws {
        try await withFixture { fixture in
            let app = try buildApplication(configuration: ServerConfiguration(port: 0), store: fixture.store, controller: fixture.controller,
                                           registry: fixture.registry, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            try await app.test(.router) { client in
                let response = try await client.execute(uri: "/api/v1/apply", method: .post, headers: [.contentType: "application/yaml"],
                                                        body: ByteBuffer(string: hostYAML))
                #expect(response.status == .ok)
            }
        }
    }
}

@Suite("What applied manifests may name")
struct ApplyPolicyTests {
    @Test("a host URI that would run a program is a 422 at its line, and nothing is stored")
    func hostileURI() async throws {
        try await withRouterClient { fixture, client in
            let yaml = "apiVersion: drove/v1\nkind: Host\nmetadata: { name: evil }\nspec:\n  uri: \"qemu+ssh://node-a/system?netcat=/tmp/x\"\n"
            let response = try await client.execute(uri: "/api/v1/apply?name=evil.yaml", method: .post,
                                                    headers: fixture.yamlHeaders(), body: ByteBuffer(string: yaml))
            #expect(response.status == .unprocessableContent)
            let errors = try decode(APIErrorBody.self, response).errors ?? []
            #expect(errors.map { "\($0.file):\($0.line):\($0.column) \($0.path)" } == ["evil.yaml:5:8 spec.uri"])
            #expect(try await fixture.store.objects().isEmpty)
        }
    }

    @Test("template files outside the server's template directories are a 422; inside, accepted")
    func templateDirectories() async throws {
        try await withRouterClient(policy: ManifestPolicy(templateFiles: .under(["/srv/images"]))) { fixture, client in
            func apply(_ path: String) async throws -> TestResponse {
                let yaml = "apiVersion: drove/v1\nkind: Template\nmetadata: { name: t }\nspec:\n  source: { path: \"\(path)\" }\n"
                return try await client.execute(uri: "/api/v1/apply?name=t.yaml&base=/srv/images", method: .post,
                                                headers: fixture.yamlHeaders(), body: ByteBuffer(string: yaml))
            }
            for path in ["/etc/shadow", "../secret.qcow2", "/srv/images-evil/a.qcow2"] {
                let refused = try await apply(path)
                #expect(refused.status == .unprocessableContent, "\(path)")
                #expect(try decode(APIErrorBody.self, refused).errors?.first?.path == "spec.source.path", "\(path)")
            }
            #expect(try await fixture.store.objects().isEmpty)
            #expect(try await apply("alpine.qcow2").status == .ok)
        }
    }
}
