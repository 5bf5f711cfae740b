import DroveAPI
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import DroveServer

/// The portal with users: a deployer signs in with its own token and sees what the API lets it
/// see; the portal's scripts reach the API with the session cookie, mutations only with the
/// session's CSRF token.
@Suite(.timeLimit(.minutes(2)))
struct PortalAccessTests {
    /// Signs in with `token`; the session cookie and the CSRF token of its pages.
    static func session(_ client: some TestClientProtocol, token: String) async throws -> (cookie: String, csrf: String) {
        let response = try await PortalTests.signIn(client, token: token)
        #expect(response.status == .seeOther)
        let session = try #require(PortalTests.cookieValue(PortalSessions.cookieName, in: response))
        let cookie = "\(PortalSessions.cookieName)=\(session)"
        let page = try await client.execute(uri: "/deploy", method: .get, headers: [.cookie: cookie])
        return (cookie, try #require(PortalTests.hidden("csrf", in: text(page))))
    }

    static let vms = [
        VMSummary(name: "alice-web-0", vmSet: "alice-web", ordinal: 0, host: "node-a", phase: .running, ready: true),
        VMSummary(name: "bob-web-0", vmSet: "bob-web", ordinal: 0, host: "node-a", phase: .running, ready: true),
    ]

    @Test("a deployer signed in sees its own set and VMs, not another's (its set page is 403), nor another's private template")
    func deployerSeesItsOwn() async throws {
        try await withRouterClient(controller: FakeController(vms: Self.vms)) { fixture, client in
            let alice = try await AccessTests.addUser("alice", .deployer, fixture, client)
            let bob = try await AccessTests.addUser("bob", .deployer, fixture, client)
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                         body: ByteBuffer(string: hostYAML + "\n---\n" + AccessTests.templates))
            for (token, name) in [(alice, "alice-web"), (bob, "bob-web")] {
                let response = try await client.execute(uri: "/api/v1/apply", method: .post, headers: AccessTests.headers(token),
                                                        body: ByteBuffer(string: vmSetYAML(name, template: "base")))
                #expect(response.status == .ok)
            }

            let browser = try await Self.session(client, token: bob)
            let own = try await client.execute(uri: "/vmsets/bob-web", method: .get, headers: [.cookie: browser.cookie])
            #expect(own.status == .ok)
            let other = try await client.execute(uri: "/vmsets/alice-web", method: .get, headers: [.cookie: browser.cookie])
            #expect(other.status == .forbidden)
            #expect(text(other).contains("belongs to another user"), "\(text(other))")
            #expect(!text(other).contains("alice-web-0"))

            let vms = text(try await client.execute(uri: "/vms", method: .get, headers: [.cookie: browser.cookie]))
            #expect(vms.contains("bob-web-0") && !vms.contains("alice-web-0"))
            let templates = text(try await client.execute(uri: "/templates", method: .get, headers: [.cookie: browser.cookie]))
            #expect(templates.contains("base") && !templates.contains("secret"))
        }
    }

    @Test("the session cookie reads the API; a mutation through it needs the session's CSRF token")
    func cookieOnTheAPI() async throws {
        try await withRouterClient { fixture, client in
            let alice = try await AccessTests.addUser("alice", .deployer, fixture, client)
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                         body: ByteBuffer(string: hostYAML + "\n---\n" + AccessTests.templates))
            let browser = try await Self.session(client, token: alice)

            let read = try await client.execute(uri: "/api/v1/templates", method: .get, headers: [.cookie: browser.cookie])
            #expect(read.status == .ok)
            #expect(try decode(APIObjectList.self, read).items.map(\.name) == ["base"])

            let body = ByteBuffer(string: vmSetYAML("alice-web", template: "base"))
            let forged = try await client.execute(uri: "/api/v1/apply", method: .post,
                                                  headers: [.cookie: browser.cookie, .contentType: "application/yaml"], body: body)
            #expect(forged.status == .unauthorized)
            let wrong = try await client.execute(uri: "/api/v1/apply", method: .post,
                                                 headers: [.cookie: browser.cookie, .contentType: "application/yaml",
                                                           .init(PortalSessions.csrfHeader)!: String(repeating: "0", count: 64)], body: body)
            #expect(wrong.status == .unauthorized)
            #expect(try await fixture.store.object(kind: .vmSet, name: "alice-web") == nil)
            let good = try await client.execute(uri: "/api/v1/apply", method: .post,
                                                headers: [.cookie: browser.cookie, .contentType: "application/yaml",
                                                          .init(PortalSessions.csrfHeader)!: browser.csrf], body: body)
            #expect(good.status == .ok, "\(text(good))")
            #expect(try await fixture.store.object(kind: .vmSet, name: "alice-web")?.owner == "alice")
        }
    }
}
