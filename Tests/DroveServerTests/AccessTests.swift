import Crypto
import DroveAPI
import DroveManifest
@testable import DroveServer
import DroveStore
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Users, roles and owners through the API: who may read and change what (docs/api.md).
@Suite("Users, roles and owners")
struct AccessTests {
    /// The admin adds users through the API and gets each token once.
    static func addUser(_ name: String, _ role: Role, _ fixture: Fixture, _ client: any TestClientProtocol) async throws -> String {
        let response = try await client.execute(uri: "/api/v1/users", method: .post, headers: fixture.jsonHeaders(),
                                                body: ByteBuffer(string: #"{"name":"\#(name)","role":"\#(role.rawValue)"}"#))
        #expect(response.status == .created, "\(text(response))")
        return try decode(APIUserToken.self, response).token
    }

    static func headers(_ token: String, yaml: Bool = true) -> HTTPFields {
        var headers: HTTPFields = [.authorization: "Bearer \(token)"]
        if yaml { headers[.contentType] = "application/yaml" }
        return headers
    }

    static let templates = """
        apiVersion: drove/v1
        kind: Template
        metadata: { name: base }
        spec: { source: { path: images/base.qcow2 }, visibility: shared }
        ---
        apiVersion: drove/v1
        kind: Template
        metadata: { name: secret }
        spec: { source: { path: images/secret.qcow2 } }
        """

    @Test("a token is shown once and stored as a hash; rotation and removal end the old one at once")
    func tokens() async throws {
        try await withRouterClient { fixture, client in
            let token = try await Self.addUser("alice", .deployer, fixture, client)
            let parts = token.split(separator: ".")
            #expect(parts.count == 2 && parts[0] == "alice" && parts[1].count == 43)
            let stored = try #require(try await fixture.store.user(named: "alice"))
            #expect(stored.role == .deployer && stored.createdBy == "admin")
            #expect(stored.tokenHash == Array(SHA256.hash(data: Array(parts[1].utf8))))

            // The token works; a wrong secret for the same user does not.
            let list = try await client.execute(uri: "/api/v1/vmsets", method: .get, headers: Self.headers(token, yaml: false))
            #expect(list.status == .ok)
            let forged = "alice." + String(repeating: "A", count: 43)
            #expect(try await client.execute(uri: "/api/v1/vmsets", method: .get, headers: Self.headers(forged, yaml: false)).status == .unauthorized)

            // Adding a name twice, or a reserved or invalid one, is refused.
            let again = try await client.execute(uri: "/api/v1/users", method: .post, headers: fixture.jsonHeaders(),
                                                  body: ByteBuffer(string: #"{"name":"alice","role":"viewer"}"#))
            #expect(again.status == .conflict)
            for bad in ["admin", "anonymous", "Alice", "a/b", "x.y"] {
                let response = try await client.execute(uri: "/api/v1/users", method: .post, headers: fixture.jsonHeaders(),
                                                        body: ByteBuffer(string: #"{"name":"\#(bad)","role":"viewer"}"#))
                #expect(response.status == .unprocessableContent, "\(bad)")
            }

            let rotated = try await client.execute(uri: "/api/v1/users/alice/rotate", method: .post, headers: fixture.jsonHeaders(),
                                                   body: ByteBuffer(string: "{}"))
            let fresh = try decode(APIUserToken.self, rotated).token
            #expect(fresh != token)
            #expect(try await client.execute(uri: "/api/v1/vmsets", method: .get, headers: Self.headers(token, yaml: false)).status == .unauthorized)
            #expect(try await client.execute(uri: "/api/v1/vmsets", method: .get, headers: Self.headers(fresh, yaml: false)).status == .ok)

            let removed = try await client.execute(uri: "/api/v1/users/alice", method: .delete, headers: fixture.authorized)
            #expect(removed.status == .noContent)
            #expect(try await client.execute(uri: "/api/v1/vmsets", method: .get, headers: Self.headers(fresh, yaml: false)).status == .unauthorized)
            #expect(try await client.execute(uri: "/api/v1/users/alice", method: .delete, headers: fixture.authorized).status == .notFound)
        }
    }

    @Test("only an admin manages users: 403 for a deployer or a viewer, 401 without a token")
    func usersAreAdminOnly() async throws {
        try await withRouterClient { fixture, client in
            let deployer = try await Self.addUser("dora", .deployer, fixture, client)
            let viewer = try await Self.addUser("vic", .viewer, fixture, client)
            for token in [deployer, viewer] {
                let list = try await client.execute(uri: "/api/v1/users", method: .get, headers: Self.headers(token, yaml: false))
                #expect(list.status == .forbidden)
                #expect(text(list).contains("only an admin may list users"))
                var headers = Self.headers(token, yaml: false)
                headers[.contentType] = "application/json"
                let add = try await client.execute(uri: "/api/v1/users", method: .post, headers: headers,
                                                   body: ByteBuffer(string: #"{"name":"eve","role":"admin"}"#))
                #expect(add.status == .forbidden)
            }
            let anonymous = try await client.execute(uri: "/api/v1/users", method: .post, headers: [.contentType: "application/json"],
                                                     body: ByteBuffer(string: #"{"name":"eve","role":"admin"}"#))
            #expect(anonymous.status == .unauthorized)
            #expect(try await fixture.store.user(named: "eve") == nil)
            let misshapen = try await client.execute(uri: "/api/v1/users", method: .post, headers: fixture.jsonHeaders(),
                                                     body: ByteBuffer(string: #"{"name":"eve","role":"root"}"#))
            #expect(misshapen.status == .badRequest)
            #expect(text(misshapen).contains("the request body is not the JSON expected"), "\(text(misshapen))")
            let users = try decode(APIUserList.self, try await client.execute(uri: "/api/v1/users", method: .get, headers: fixture.authorized))
            #expect(users.items.map(\.name) == ["dora", "vic"])
        }
    }

    @Test("a viewer reads everything and changes nothing (403, not 401)")
    func viewer() async throws {
        try await withRouterClient { fixture, client in
            let viewer = try await Self.addUser("vic", .viewer, fixture, client)
            let admin = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                 body: ByteBuffer(string: hostYAML + "\n---\n" + Self.templates + "\n---\n" + vmSetYAML(template: "secret")))
            #expect(admin.status == .ok, "\(text(admin))")

            let apply = try await client.execute(uri: "/api/v1/apply", method: .post, headers: Self.headers(viewer),
                                                 body: ByteBuffer(string: vmSetYAML("mine", template: "base")))
            #expect(apply.status == .forbidden)
            #expect(text(apply).contains("vic is a viewer"))
            let delete = try await client.execute(uri: "/api/v1/vmsets/web", method: .delete, headers: Self.headers(viewer, yaml: false))
            #expect(delete.status == .forbidden)
            #expect(try await fixture.store.object(kind: .vmSet, name: "web")?.deletionRequested == false)

            let templates = try decode(APIObjectList.self, try await client.execute(uri: "/api/v1/templates", method: .get,
                                                                                     headers: Self.headers(viewer, yaml: false)))
            #expect(templates.items.map(\.name) == ["base", "secret"])
            let sets = try decode(APIObjectList.self, try await client.execute(uri: "/api/v1/vmsets", method: .get,
                                                                                headers: Self.headers(viewer, yaml: false)))
            #expect(sets.items.map(\.name) == ["web"])
        }
    }

    @Test("a deployer owns what it creates, uses shared templates but not others' private ones, and may not touch others' sets")
    func deployers() async throws {
        try await withRouterClient { fixture, client in
            let alice = try await Self.addUser("alice", .deployer, fixture, client)
            let bob = try await Self.addUser("bob", .deployer, fixture, client)
            let setup = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                 body: ByteBuffer(string: hostYAML + "\n---\n" + Self.templates))
            #expect(setup.status == .ok, "\(text(setup))")

            // Hosts and template files are an admin's.
            let host = try await client.execute(uri: "/api/v1/apply", method: .post, headers: Self.headers(alice),
                                                body: ByteBuffer(string: hostYAML.replacingOccurrences(of: "node-a", with: "node-z")))
            #expect(host.status == .forbidden)
            #expect(text(host).contains("only an admin applies Hosts"))
            let file = try await client.execute(uri: "/api/v1/apply", method: .post, headers: Self.headers(alice),
                                                body: ByteBuffer(string: templateYAML))
            #expect(file.status == .forbidden)
            #expect(text(file).contains("drove template push"))

            // A shared template: yes, and the set is alice's whatever the manifest says.
            let mine = try await client.execute(uri: "/api/v1/apply", method: .post, headers: Self.headers(alice),
                                                body: ByteBuffer(string: vmSetYAML("alice-web", template: "base")))
            #expect(mine.status == .ok, "\(text(mine))")
            #expect(try await fixture.store.object(kind: .vmSet, name: "alice-web")?.owner == "alice")
            // Another user's private template: no.
            let private_ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: Self.headers(alice),
                                                    body: ByteBuffer(string: vmSetYAML("alice-db", template: "secret")))
            #expect(private_.status == .forbidden)
            #expect(text(private_).contains("Template/secret, which is private"))
            #expect(try await fixture.store.object(kind: .vmSet, name: "alice-db") == nil)

            // Bob can neither change, delete nor see alice's set.
            let change = try await client.execute(uri: "/api/v1/apply", method: .post, headers: Self.headers(bob),
                                                  body: ByteBuffer(string: vmSetYAML("alice-web", replicas: 9, template: "base")))
            #expect(change.status == .forbidden)
            #expect(text(change).contains("belongs to user alice, not to bob"))
            #expect(try await fixture.store.object(kind: .vmSet, name: "alice-web")?.generation == 1)
            let delete = try await client.execute(uri: "/api/v1/vmsets/alice-web", method: .delete, headers: Self.headers(bob, yaml: false))
            #expect(delete.status == .forbidden)
            let get = try await client.execute(uri: "/api/v1/vmsets/alice-web", method: .get, headers: Self.headers(bob, yaml: false))
            #expect(get.status == .forbidden)
            let bobsSets = try decode(APIObjectList.self, try await client.execute(uri: "/api/v1/vmsets", method: .get,
                                                                                    headers: Self.headers(bob, yaml: false)))
            #expect(bobsSets.items.isEmpty)
            // Nor see the admin's private template: not even that it exists.
            let secret = try await client.execute(uri: "/api/v1/templates/secret", method: .get, headers: Self.headers(bob, yaml: false))
            #expect(secret.status == .notFound)
            let bobsTemplates = try decode(APIObjectList.self, try await client.execute(uri: "/api/v1/templates", method: .get,
                                                                                         headers: Self.headers(bob, yaml: false)))
            #expect(bobsTemplates.items.map(\.name) == ["base"])

            // An admin may change alice's set; it stays alice's.
            let admin = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                 body: ByteBuffer(string: vmSetYAML("alice-web", replicas: 5, template: "base")))
            #expect(admin.status == .ok)
            let object = try decode(APIObject.self, try await client.execute(uri: "/api/v1/vmsets/alice-web", method: .get,
                                                                              headers: Self.headers(alice, yaml: false)))
            #expect(object.owner == "alice" && object.generation == 2)

            // Alice deletes her own set.
            let own = try await client.execute(uri: "/api/v1/vmsets/alice-web", method: .delete, headers: Self.headers(alice, yaml: false))
            #expect(own.status == .accepted)
        }
    }

    @Test("every mutation is audited: its events name the user")
    func audit() async throws {
        try await withRouterClient { fixture, client in
            let alice = try await Self.addUser("alice", .deployer, fixture, client)
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                         body: ByteBuffer(string: hostYAML + "\n---\n" + Self.templates))
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: Self.headers(alice),
                                         body: ByteBuffer(string: vmSetYAML("alice-web", template: "base")))
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: Self.headers(alice),
                                         body: ByteBuffer(string: vmSetYAML("alice-web", replicas: 4, template: "base")))
            _ = try await client.execute(uri: "/api/v1/vmsets/alice-web", method: .delete, headers: Self.headers(alice, yaml: false))

            let events = try decode(APIEventList.self, try await client.execute(uri: "/api/v1/events", method: .get, headers: fixture.authorized))
            let audit = events.items.map { "\($0.reason) \($0.kind)/\($0.name) by \($0.actor ?? "-")" }
            #expect(audit == [
                "Applied Host/node-a by admin", "Applied Template/base by admin", "Applied Template/secret by admin",
                "Applied VMSet/alice-web by alice", "Applied VMSet/alice-web by alice", "DeletionRequested VMSet/alice-web by alice",
            ])
            #expect(events.items.contains { $0.message == "changed by alice (generation 2)" && $0.actor == "alice" })
        }
    }

    @Test("who a request acts for: a token's user, the admin on an open loopback server, an anonymous reader on loopback, else 401")
    func principals() async throws {
        try await withFixture { fixture in
            let authenticator = Authenticator(adminToken: Fixture.token, store: fixture.store)
            let open = Authenticator(adminToken: nil, store: fixture.store)
            func principal(_ header: String?, loopback: Bool, _ method: HTTPRequest.Method = .get,
                           _ authenticator: Authenticator) async -> Principal? {
                try? await AuthenticationMiddleware.principal(authorization: header, fromLoopback: loopback, method: method, what: "test",
                                                              authenticator: authenticator)
            }
            #expect(await principal("Bearer \(Fixture.token)", loopback: false, .post, authenticator) == .admin)
            #expect(await principal(nil, loopback: true, .get, authenticator) == AuthenticationMiddleware.anonymous)
            #expect(await principal(nil, loopback: true, .post, authenticator) == nil)
            #expect(await principal(nil, loopback: false, .get, authenticator) == nil)
            #expect(await principal("Bearer wrong", loopback: true, .get, authenticator) == nil)
            #expect(await principal(nil, loopback: true, .post, open) == .admin)
            #expect(await principal(nil, loopback: false, .get, open) == nil)

            let addresses = try ["127.0.0.1", "127.9.0.3", "::1", "10.77.0.5", "192.168.1.20", "fe80::1"].map {
                try SocketAddress(ipAddress: $0, port: 1)
            }
            #expect(addresses.map(DroveRequestContext.isLoopback) == [true, true, true, false, false, false])
        }
    }
}

extension Fixture {
    func jsonHeaders() -> HTTPFields {
        [.contentType: "application/json", .authorization: "Bearer \(Self.token)"]
    }
}
