import Crypto
import DroveAPI
import DroveManifest
import DroveServer
import DroveStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Git sources through the API: syncs on request (with the token), push webhooks (with a
/// signature instead), and objects a source owns.
@Suite("Git sources: sync, webhooks, ownership")
struct GitSourceAPITests {
    static let secret = "hook-secret-for-tests"

    /// A directory of secrets, outside the fixture's, for the policy to name.
    static func withCredentials<T>(_ body: (URL, ManifestPolicy) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drove-server-credentials-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try (secret + "\n").write(to: directory.appendingPathComponent("hook"), atomically: true, encoding: .utf8)
        try "whsec_\(Data(secret.utf8).base64EncodedString())".write(to: directory.appendingPathComponent("gitlab-hook"), atomically: true, encoding: .utf8)
        return try await body(directory, ManifestPolicy(credentialFiles: .under([directory.path]), templateFiles: .anywhere, localRepositories: .anywhere))
    }

    static func sourceYAML(_ name: String = "fleet", hook: String?, extra: String = "") -> String {
        """
        apiVersion: drove/v1
        kind: GitSource
        metadata: { name: \(name) }
        spec:
          url: https://git.example.org/infra/fleet.git
          ref: { branch: main }
        \(hook.map { "  webhookSecretRef: { path: \($0) }" } ?? "")
        \(extra)
        """
    }

    static func hex(_ mac: some Sequence<UInt8>) -> String { mac.map { String(format: "%02x", $0) }.joined() }

    static func gitHubSignature(_ body: String, secret: String = secret) -> String {
        "sha256=" + hex(HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8))))
    }

    let push = #"{"ref": "refs/heads/main", "after": "0123456789abcdef0123456789abcdef01234567"}"#

    @Test("POST /api/v1/gitsources/NAME/sync needs the token, asks the controller, and names unknown sources")
    func syncEndpoint() async throws {
        try await Self.withCredentials { _, policy in
            try await withRouterClient(policy: policy) { fixture, client in
                _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                             body: ByteBuffer(string: Self.sourceYAML(hook: nil)))
                let refused = try await client.execute(uri: "/api/v1/gitsources/fleet/sync", method: .post)
                #expect(refused.status == .unauthorized)
                #expect(fixture.controller.syncRequests.isEmpty)

                let accepted = try await client.execute(uri: "/api/v1/gitsources/fleet/sync", method: .post, headers: fixture.authorized)
                #expect(accepted.status == .accepted)
                let answer = try decode(APISyncResponse.self, accepted)
                #expect(answer.result == "requested" && answer.requestedAt == fixture.controller.syncTime)
                #expect(fixture.controller.syncRequests == ["fleet"])

                let missing = try await client.execute(uri: "/api/v1/gitsources/nope/sync", method: .post, headers: fixture.authorized)
                #expect(missing.status == .notFound)
                #expect(try decode(APIErrorBody.self, missing).error == "GitSource/nope not found")

                _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                             body: ByteBuffer(string: Self.sourceYAML(hook: nil, extra: "  suspend: true")))
                let suspended = try await client.execute(uri: "/api/v1/gitsources/fleet/sync", method: .post, headers: fixture.authorized)
                #expect(suspended.status == .conflict)
                #expect(fixture.controller.syncRequests == ["fleet"])
            }
        }
    }

    @Test("a webhook with a valid signature asks for a sync without the token; a bad or missing one gets 401 and changes nothing")
    func webhookSignatures() async throws {
        try await Self.withCredentials { credentials, policy in
            try await withRouterClient(policy: policy) { [push] fixture, client in
                let hook = credentials.appendingPathComponent("hook").path
                _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                             body: ByteBuffer(string: Self.sourceYAML(hook: hook)))
                func send(_ headers: HTTPFields, _ body: String) async throws -> TestResponse {
                    try await client.execute(uri: "/api/v1/hooks/fleet", method: .post, headers: headers, body: ByteBuffer(string: body))
                }

                let valid = try await send([.init("X-Hub-Signature-256")!: Self.gitHubSignature(push), .contentType: "application/json"], push)
                #expect(valid.status == .accepted)
                #expect(try decode(APISyncResponse.self, valid).message == "GitHub push")
                #expect(fixture.controller.syncRequests == ["fleet"])

                let refusals: [(HTTPFields, String)] = [
                    ([.init("X-Hub-Signature-256")!: Self.gitHubSignature(push, secret: "wrong")], push),
                    ([.init("X-Hub-Signature-256")!: Self.gitHubSignature(push)], push.replacingOccurrences(of: "main", with: "mian")),
                    ([.init("X-Hub-Signature-256")!: "sha256=zz"], push),
                    ([.init("X-Gitea-Signature")!: String(Self.gitHubSignature(push).dropFirst(7).reversed())], push),
                    ([.init("X-Gitlab-Token")!: "not-the-secret"], push),
                    ([:], push),
                    ([.authorization: "Bearer \(Fixture.token)"], push),
                ]
                for (headers, body) in refusals {
                    let response = try await send(headers, body)
                    #expect(response.status == .unauthorized, "\(headers)")
                    #expect(try decode(APIErrorBody.self, response).error.hasPrefix("GitSource/fleet: "), "\(headers)")
                }
                #expect(fixture.controller.syncRequests == ["fleet"], "a refused webhook changes nothing")

                // Gitea's signature, GitLab's secret token.
                #expect(try await send([.init("X-Gitea-Signature")!: String(Self.gitHubSignature(push).dropFirst(7))], push).status == .accepted)
                #expect(try await send([.init("X-Gitlab-Token")!: Self.secret], push).status == .accepted)
                #expect(fixture.controller.syncRequests == ["fleet", "fleet", "fleet"])

                // A push to another branch asks for nothing.
                let other = push.replacingOccurrences(of: "refs/heads/main", with: "refs/heads/dev")
                let ignored = try await send([.init("X-Hub-Signature-256")!: Self.gitHubSignature(other)], other)
                #expect(ignored.status == .accepted)
                #expect(try decode(APISyncResponse.self, ignored).result == "ignored")
                #expect(fixture.controller.syncRequests.count == 3)

                // Only POST to a webhook goes without the token.
                #expect(try await client.execute(uri: "/api/v1/hooks/fleet", method: .delete).status == .unauthorized)
            }
        }
    }

    @Test("GitLab's signing token (Standard Webhooks): id, timestamp and body signed; a stale timestamp is refused")
    func gitLabSigned() async throws {
        try await Self.withCredentials { credentials, policy in
            try await withRouterClient(policy: policy) { [push] fixture, client in
                _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                             body: ByteBuffer(string: Self.sourceYAML(hook: credentials.appendingPathComponent("gitlab-hook").path)))
                func signed(at time: Date) -> HTTPFields {
                    let timestamp = String(Int(time.timeIntervalSince1970))
                    let mac = HMAC<SHA256>.authenticationCode(for: Data("msg_1.\(timestamp).\(push)".utf8), using: SymmetricKey(data: Data(Self.secret.utf8)))
                    return [.init("webhook-id")!: "msg_1", .init("webhook-timestamp")!: timestamp,
                            .init("webhook-signature")!: "v1,bm90LXRoaXM= v1,\(Data(mac).base64EncodedString())"]
                }
                let valid = try await client.execute(uri: "/api/v1/hooks/fleet", method: .post, headers: signed(at: Date()), body: ByteBuffer(string: push))
                #expect(valid.status == .accepted)
                let stale = try await client.execute(uri: "/api/v1/hooks/fleet", method: .post, headers: signed(at: Date().addingTimeInterval(-3600)),
                                                     body: ByteBuffer(string: push))
                #expect(stale.status == .unauthorized)
                #expect(try decode(APIErrorBody.self, stale).error.contains("a replay?"))
                #expect(fixture.controller.syncRequests == ["fleet"])
            }
        }
    }

    @Test("a source without a webhook secret takes no webhooks; an unknown source is 404")
    func webhookNotConfigured() async throws {
        try await Self.withCredentials { _, policy in
            try await withRouterClient(policy: policy) { [push] fixture, client in
                _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                             body: ByteBuffer(string: Self.sourceYAML(hook: nil)))
                let headers: HTTPFields = [.init("X-Hub-Signature-256")!: Self.gitHubSignature(push)]
                let forbidden = try await client.execute(uri: "/api/v1/hooks/fleet", method: .post, headers: headers, body: ByteBuffer(string: push))
                #expect(forbidden.status == .forbidden)
                let missing = try await client.execute(uri: "/api/v1/hooks/nope", method: .post, headers: headers, body: ByteBuffer(string: push))
                #expect(missing.status == .notFound)
                #expect(fixture.controller.syncRequests.isEmpty)
            }
        }
    }

    @Test("objects a source owns show it; applied or deleted by hand they answer 409")
    func ownedObjects() async throws {
        try await Self.withCredentials { _, policy in
            try await withRouterClient(policy: policy) { fixture, client in
                let source = ManifestSource(name: "manifests/fleet.yaml", text: fleetYAML(), baseDirectory: "/srv/repo/manifests")
                let manifest = try ManifestLoader(policy: policy).load(sources: [source])
                _ = try await fixture.store.applyRevision(SourceRevision(
                    source: "fleet", revision: "0123456789abcdef0123456789abcdef01234567",
                    objects: try AppliedObject.objects(in: manifest, sources: [source]), prune: true))

                let web = try decode(APIObject.self, try await client.execute(uri: "/api/v1/vmsets/web", method: .get))
                #expect(web.source == "fleet" && web.revision == "0123456789abcdef0123456789abcdef01234567")

                let apply = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                     body: ByteBuffer(string: fleetYAML(replicas: 9)))
                #expect(apply.status == .conflict)
                #expect(try decode(APIErrorBody.self, apply).error.contains("owned by GitSource/fleet (revision 0123456789ab); change it in that repository"))
                let delete = try await client.execute(uri: "/api/v1/vmsets/web", method: .delete, headers: fixture.authorized)
                #expect(delete.status == .conflict)
                #expect(try await fixture.store.desiredState(policy: policy).manifest.vmSet(named: "web")?.spec.replicas == 3)
            }
        }
    }

    @Test("the watch stream carries a git source's status, revisions included")
    func watched() async throws {
        try await Self.withCredentials { _, policy in
            try await withFixture(policy: policy) { fixture in
                let source = ManifestSource(name: "source.yaml", text: Self.sourceYAML(hook: nil), baseDirectory: "/srv")
                _ = try await fixture.store.apply(try AppliedObject.objects(in: try ManifestLoader(policy: policy).load(sources: [source]),
                                                                             sources: [source]))
                try await fixture.application().test(.live) { client in
                    let port = try #require(client.port)
                    let store = fixture.store
                    let received = try await withTimeout(20, "the git source's status on the watch stream") {
                        try await withStreamingGet(port: port, path: "/api/v1/watch") { reader in
                            try await reader.read(until: ["200 OK", ": watching"])
                            try await store.setStatus(StatusUpdate(
                                observedGeneration: 1, conditions: [.ready: ConditionReport(.true, .revisionApplied, "applied 1a")],
                                details: StatusDetails(git: GitSourceStatus(appliedRevision: "1a2b", objects: 2, converged: true))),
                                for: ObjectReference(kind: .gitSource, name: "fleet"))
                            try await reader.read(until: ["event: status", "\"RevisionApplied\""])
                            return reader.received
                        }
                    }
                    let line = try #require(received.split(separator: "\n").first { $0.hasPrefix("data: ") && $0.contains("RevisionApplied") })
                    let change = try APIJSON.decoder().decode(APIStatusChange.self, from: Data(line.dropFirst(6).utf8))
                    #expect(change.kind == "GitSource" && change.status?.git?.appliedRevision == "1a2b" && change.status?.git?.converged == true)
                }
            }
        }
    }

    @Test("a git source lists with its summary and its revisions, errors with file:line:column")
    func listed() async throws {
        try await Self.withCredentials { _, policy in
            try await withRouterClient(policy: policy) { fixture, client in
                _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                             body: ByteBuffer(string: Self.sourceYAML(hook: nil, extra: "  path: manifests/prod\n  prune: true")))
                let diagnostic = Diagnostic(location: SourceLocation(file: "manifests/prod/web.yaml", line: 7, column: 13), subject: "VMSet/web",
                                            path: "spec.replicas", code: .outOfRange, message: "-2 is out of range 0..10000")
                try await fixture.store.setStatus(StatusUpdate(
                    observedGeneration: 1, conditions: [.ready: ConditionReport(.false, .invalidRevision, "revision 2b has 1 error")],
                    counters: ["objects": 4],
                    details: StatusDetails(git: GitSourceStatus(fetchedRevision: "2b", appliedRevision: "1a", attemptedRevision: "2b",
                                                                attemptError: "revision 2b has 1 error", diagnostics: [StoredDiagnostic(diagnostic)],
                                                                objects: 4, converged: true))),
                    for: ObjectReference(kind: .gitSource, name: "fleet"))
                let list = try decode(APIObjectList.self, try await client.execute(uri: "/api/v1/gitsources", method: .get))
                let item = try #require(list.items.first)
                #expect(item.kind == "GitSource")
                #expect(item.summary == ["url": "https://git.example.org/infra/fleet.git", "ref": "branch main", "path": "manifests/prod",
                                         "interval": "1m", "prune": "true", "suspend": "false"])
                let git = try #require(item.status?.git)
                #expect(git.appliedRevision == "1a" && git.attemptedRevision == "2b" && git.objects == 4 && git.converged)
                #expect(git.errors?.map(\.text) == ["manifests/prod/web.yaml:7:13: VMSet/web: spec.replicas: -2 is out of range 0..10000"])
                #expect(git.errors?.first?.code == "outOfRange")
                let one = try await client.execute(uri: "/api/v1/gitsources/fleet", method: .get)
                #expect(try decode(APIObject.self, one).status?.git?.fetchedRevision == "2b")
                let notSynced = try await client.execute(uri: "/api/v1/vmsets/web/sync", method: .post, headers: fixture.authorized)
                #expect(notSynced.status == .notFound)
            }
        }
    }
}
