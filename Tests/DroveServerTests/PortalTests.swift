import DroveAPI
import DroveManifest
import DroveStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
@testable import DroveServer

/// The portal in-process: sign-in and its cookies, CSRF on every form, sign-out, escaping, and
/// pages that carry their data as HTML (readable without JavaScript).
@Suite(.timeLimit(.minutes(2)))
struct PortalTests {
    /// A browser as the tests play it: the session cookie and the CSRF token its pages carry.
    struct Browser: Sendable {
        var cookie: String
        var csrf: String

        var headers: HTTPFields { [.cookie: cookie] }

        func form(_ fields: [(String, String)], csrf: String?) -> (HTTPFields, ByteBuffer) {
            let all = (csrf.map { [("csrf", $0)] } ?? []) + fields
            let body = all.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
            return ([.cookie: cookie, .contentType: "application/x-www-form-urlencoded"], ByteBuffer(string: body))
        }
    }

    static func setCookies(_ response: TestResponse) -> [String] {
        response.headers[values: .setCookie]
    }

    static func cookieValue(_ name: String, in response: TestResponse) -> String? {
        setCookies(response).compactMap { header -> String? in
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
            return pair.count == 2 && pair[0] == name ? String(pair[1]) : nil
        }.first
    }

    static func hidden(_ name: String, in html: String) -> String? {
        guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    /// Opens the sign-in page and posts `token` from it, as a browser does.
    static func signIn(_ client: some TestClientProtocol, token: String = Fixture.token, next: String = "/") async throws -> TestResponse {
        let page = try await client.execute(uri: "/signin?next=\(next.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)", method: .get)
        let formCookie = try #require(cookieValue(PortalRoutes.signInCookie, in: page))
        let formToken = try #require(hidden("signin", in: text(page)))
        let body = "signin=\(formToken)&next=\(next.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&token=\(token)"
        return try await client.execute(uri: "/signin", method: .post,
                                        headers: [.cookie: "\(PortalRoutes.signInCookie)=\(formCookie)", .contentType: "application/x-www-form-urlencoded"],
                                        body: ByteBuffer(string: body))
    }

    static func browser(_ client: some TestClientProtocol) async throws -> Browser {
        let response = try await signIn(client)
        let session = try #require(cookieValue(PortalSessions.cookieName, in: response))
        let page = try await client.execute(uri: "/deploy", method: .get, headers: [.cookie: "\(PortalSessions.cookieName)=\(session)"])
        return Browser(cookie: "\(PortalSessions.cookieName)=\(session)", csrf: try #require(hidden("csrf", in: text(page))))
    }

    // MARK: - Signing in and out

    @Test("the server's token signs in: a session cookie (HttpOnly, SameSite=Strict, Path=/, not Secure without TLS) and back to the page asked for")
    func signInWithTheToken() async throws {
        try await withRouterClient { _, client in
            let response = try await Self.signIn(client, next: "/vms?set=web")
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/vms?set=web")
            let cookie = try #require(Self.setCookies(response).first { $0.hasPrefix("\(PortalSessions.cookieName)=") })
            let attributes = Set(cookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
            #expect(attributes.contains("httponly"))
            #expect(attributes.contains("samesite=strict"))
            #expect(attributes.contains("path=/"))
            #expect(!attributes.contains("secure"))
            let session = try #require(Self.cookieValue(PortalSessions.cookieName, in: response))
            #expect(session.count == 64)
            let page = try await client.execute(uri: "/", method: .get, headers: [.cookie: "\(PortalSessions.cookieName)=\(session)"])
            #expect(page.status == .ok)
            #expect(text(page).contains("<h1>Overview</h1>"))
        }
    }

    @Test("a wrong token is refused with 401 and starts no session")
    func signInWithAWrongToken() async throws {
        try await withRouterClient { _, client in
            let response = try await Self.signIn(client, token: "not-the-token")
            #expect(response.status == .unauthorized)
            #expect(text(response).contains("That token is not valid."))
            #expect(Self.cookieValue(PortalSessions.cookieName, in: response) == nil)
        }
    }

    @Test("a sign-in posted without the sign-in page's own cookie is refused (no signing a browser in from another site)")
    func signInNeedsItsFormCookie() async throws {
        try await withRouterClient { _, client in
            let response = try await client.execute(uri: "/signin", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                    body: ByteBuffer(string: "signin=abc&token=\(Fixture.token)"))
            #expect(response.status == .forbidden)
            #expect(Self.cookieValue(PortalSessions.cookieName, in: response) == nil)
        }
    }

    @Test("with secureCookies every portal cookie is Secure")
    func secureCookies() async throws {
        try await withFixture { fixture in
            let service = APIService(store: fixture.store, controller: fixture.controller, policy: fixture.configuration.manifestPolicy,
                                     logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            let router = Router(context: DroveRequestContext.self)
            Portal(configuration: PortalConfiguration(authenticate: { $0 == Fixture.token ? .admin : nil }, secureCookies: true),
                   service: service, maxFormBytes: 1 << 16).register(on: router)
            try await Application(router: router).test(.router) { client in
                let response = try await Self.signIn(client)
                #expect(response.status == .seeOther)
                let cookies = Self.setCookies(response)
                #expect(cookies.count == 2)
                for cookie in cookies {
                    #expect(cookie.split(separator: ";").contains { $0.trimmingCharacters(in: .whitespaces) == "Secure" }, "\(cookie)")
                }
            }
        }
    }

    @Test("pages without a session lead to sign-in, and back")
    func pagesNeedASession() async throws {
        try await withRouterClient { _, client in
            let response = try await client.execute(uri: "/vms?set=web", method: .get)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/signin?next=%2Fvms%3Fset%3Dweb")
        }
    }

    @Test("sign-in never leads off this server")
    func nextStaysLocal() {
        #expect(PortalRoutes.localPath("/vms?set=web") == "/vms?set=web")
        #expect(PortalRoutes.localPath("//evil.example/") == "/")
        #expect(PortalRoutes.localPath("https://evil.example/") == "/")
        #expect(PortalRoutes.localPath("/\\evil.example") == "/")
        #expect(PortalRoutes.localPath(nil) == "/")
    }

    @Test("sign-out needs the CSRF token, and then ends the session")
    func signOut() async throws {
        try await withRouterClient { _, client in
            let browser = try await Self.browser(client)
            let forged = browser.form([], csrf: nil)
            #expect(try await client.execute(uri: "/signout", method: .post, headers: forged.0, body: forged.1).status == .forbidden)
            #expect(try await client.execute(uri: "/", method: .get, headers: browser.headers).status == .ok)

            let signOut = browser.form([], csrf: browser.csrf)
            let response = try await client.execute(uri: "/signout", method: .post, headers: signOut.0, body: signOut.1)
            #expect(response.status == .seeOther)
            #expect(Self.setCookies(response).contains { $0.hasPrefix("\(PortalSessions.cookieName)=;") && $0.contains("Max-Age=0") })
            let after = try await client.execute(uri: "/", method: .get, headers: browser.headers)
            #expect(after.status == .seeOther)
            #expect(after.headers[.location]?.hasPrefix("/signin") == true)
        }
    }

    // MARK: - CSRF

    @Test("a deploy form without its CSRF token, or with another, is refused with 403 and applies nothing; with it, the set is applied")
    func deployNeedsTheCSRFToken() async throws {
        try await withRouterClient { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: templateYAML))
            let browser = try await Self.browser(client)
            let fields = [("mode", "form"), ("template", "alpine"), ("name", "web"), ("replicas", "2"), ("vcpus", "1"), ("memory", "96Mi")]
            for csrf in [nil, String(repeating: "0", count: 64)] {
                let (headers, body) = browser.form(fields, csrf: csrf)
                let response = try await client.execute(uri: "/deploy", method: .post, headers: headers, body: body)
                #expect(response.status == .forbidden)
                #expect(text(response).contains("did not carry this session&#39;s security token"))
                #expect(try await fixture.store.object(kind: .vmSet, name: "web") == nil)
            }
            let (headers, body) = browser.form(fields, csrf: browser.csrf)
            let response = try await client.execute(uri: "/deploy", method: .post, headers: headers, body: body)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/vmsets/web?done=applied")
            let stored = try #require(try await fixture.store.object(kind: .vmSet, name: "web"))
            #expect(stored.manifestText.contains("replicas: 2"))
            #expect(fixture.controller.enqueued.contains(ObjectReference(kind: .vmSet, name: "web")))
        }
    }

    @Test("the session's CSRF token resolves an API caller's cookie for mutations; a cookie alone only for reads")
    func sessionsForTheAPI() async throws {
        let clock = TestClock()
        let sessions = PortalSessions(lifetime: .seconds(3600), idleTimeout: .seconds(600), now: { clock.now })
        let session = await sessions.create(for: Principal(name: "ada", role: .deployer))
        let cookie = "theme=dark; \(PortalSessions.cookieName)=\(session.id)"
        #expect(await sessions.principal(forCookie: cookie) == Principal(name: "ada", role: .deployer))
        #expect(await sessions.principal(forCookie: cookie, csrfToken: session.csrfToken)?.name == "ada")
        #expect(await sessions.principal(forCookie: cookie, csrfToken: "wrong") == nil)
        #expect(await sessions.principal(forCookie: cookie, csrfToken: nil) == nil)
        #expect(await sessions.principal(forCookie: "\(PortalSessions.cookieName)=nope") == nil)

        clock.advance(599)
        #expect(await sessions.principal(forCookie: cookie) != nil, "used within the idle timeout")
        clock.advance(601)
        #expect(await sessions.principal(forCookie: cookie) == nil, "idle for longer than the timeout")

        let long = await sessions.create(for: .admin)
        for _ in 0..<7 {
            clock.advance(500)
            #expect(await sessions.principal(forCookie: "\(PortalSessions.cookieName)=\(long.id)") != nil)
        }
        clock.advance(500)
        #expect(await sessions.principal(forCookie: "\(PortalSessions.cookieName)=\(long.id)") == nil, "older than its lifetime")
    }

    // MARK: - Pages

    @Test("pages carry their data as HTML: hosts, sets with conditions, templates, VMs with addresses, events")
    func pagesRenderWithoutJavaScript() async throws {
        let controller = FakeController(vms: [
            VMSummary(name: "web-0", vmSet: "web", ordinal: 0, host: "node-a", phase: .running, ready: true, addresses: ["10.77.0.12"]),
            VMSummary(name: "web-1", vmSet: "web", ordinal: 1, host: nil, phase: .pending, ready: false, message: "waiting for a slot"),
        ])
        try await withRouterClient(controller: controller) { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML(replicas: 2)))
            let web = ObjectReference(kind: .vmSet, name: "web")
            try await fixture.store.setStatus(StatusUpdate(
                observedGeneration: 1, conditions: [.ready: ConditionReport(status: .false, reason: "ReplicasNotReady", message: "1/2 ready")],
                counters: ["desired": 2, "ready": 1]), for: web)
            try await fixture.store.appendEvent(NewEvent(object: web, host: "node-a", reason: "Created", message: "created web-0 on node-a"))
            let browser = try await Self.browser(client)

            let overview = text(try await client.execute(uri: "/", method: .get, headers: browser.headers))
            #expect(overview.contains("<th scope=\"row\">node-a</th>"))
            #expect(overview.contains("<a href=\"/vmsets/web\">web</a>"))
            #expect(overview.contains("not Ready"))
            #expect(overview.contains("<th scope=\"row\">alpine</th>"))
            #expect(overview.contains("created web-0 on node-a"))

            let vms = text(try await client.execute(uri: "/vms", method: .get, headers: browser.headers))
            #expect(vms.contains("<tr data-vm=\"web-0\">"))
            #expect(vms.contains("<code>10.77.0.12</code>"))
            #expect(vms.contains("waiting for a slot"))
            let filtered = text(try await client.execute(uri: "/vms?phase=Pending&set=&host=", method: .get, headers: browser.headers))
            #expect(filtered.contains("<tr data-vm=\"web-1\">"))
            #expect(!filtered.contains("<tr data-vm=\"web-0\">"))
            #expect(filtered.contains("1 of 2 VMs"))

            let set = text(try await client.execute(uri: "/vmsets/web", method: .get, headers: browser.headers))
            #expect(set.contains("ReplicasNotReady"))
            #expect(set.contains("<dt>Ready</dt><dd>1</dd>"))
            #expect(set.contains("<tr data-vm=\"web-1\">"))
            #expect(set.contains("action=\"/vmsets/web/scale\""), "an admin may scale")

            let templates = text(try await client.execute(uri: "/templates", method: .get, headers: browser.headers))
            #expect(templates.contains("<th scope=\"row\">alpine</th>"))
            #expect(templates.contains("<th scope=\"col\">node-a</th>"))
            #expect(templates.contains("id=\"upload-needs-js\""), "without JavaScript the upload form says how else to push")

            let missing = try await client.execute(uri: "/vmsets/nope", method: .get, headers: browser.headers)
            #expect(missing.status == .notFound)
            #expect(text(missing).contains("VMSet/nope not found"))
        }
    }

    @Test("pages escape what they show: a <script> in an event, a VM message or a posted name is text")
    func pagesEscape() async throws {
        let hostile = "<script>alert('x')</script>"
        let controller = FakeController(vms: [VMSummary(name: "web-0", vmSet: "web", ordinal: 0, host: "node-a", phase: .failed, ready: false,
                                                        message: hostile)])
        try await withRouterClient(controller: controller) { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML()))
            try await fixture.store.appendEvent(NewEvent(object: ObjectReference(kind: .vmSet, name: "web"), type: .warning, reason: "Failed", message: hostile))
            let browser = try await Self.browser(client)
            let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
            for path in ["/", "/vms", "/vmsets/web"] {
                let page = text(try await client.execute(uri: path, method: .get, headers: browser.headers))
                #expect(page.contains(escaped), "\(path)")
                #expect(!page.contains("<script>alert"), "\(path)")
            }
            let (headers, body) = browser.form([("mode", "form"), ("template", "alpine"), ("name", hostile), ("replicas", "1")], csrf: browser.csrf)
            let refused = try await client.execute(uri: "/deploy", method: .post, headers: headers, body: body)
            #expect(refused.status == .unprocessableContent)
            #expect(text(refused).contains("value=\"\(escaped)\""))
            #expect(!text(refused).contains("<script>alert"))
        }
    }

    @Test("pages are no-store, keep to their own origin (CSP), and the static files are cached by their digest")
    func headers() async throws {
        try await withRouterClient { _, client in
            let browser = try await Self.browser(client)
            let page = try await client.execute(uri: "/", method: .get, headers: browser.headers)
            #expect(page.headers[.cacheControl] == "no-store")
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            for asset in PortalAssets.all {
                #expect(text(page).contains(asset.path))
                let response = try await client.execute(uri: asset.path, method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "public, max-age=31536000, immutable")
                #expect(text(response) == asset.body)
            }
        }
    }

    // MARK: - Deploy, scale, delete

    @Test("invalid input comes back next to its field, with the loader's line and column for pasted YAML")
    func diagnosticsNextToTheInput() async throws {
        try await withRouterClient { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: templateYAML))
            let browser = try await Self.browser(client)
            let form = browser.form([("mode", "form"), ("template", "alpine"), ("name", "web"), ("replicas", "-2"), ("vcpus", "1"),
                                     ("memory", "512MB")], csrf: browser.csrf)
            let page = try await client.execute(uri: "/deploy", method: .post, headers: form.0, body: form.1)
            #expect(page.status == .unprocessableContent)
            let html = text(page)
            #expect(html.contains("aria-describedby=\"deploy-memory-problems\""))
            #expect(html.contains("is not a quantity"))
            #expect(html.contains("aria-describedby=\"deploy-replicas-problems\""))
            #expect(html.contains("value=\"512MB\""), "what was typed stays")

            let yaml = "apiVersion: drove/v1\nkind: VMSet\nmetadata: { name: api }\nspec:\n  replicas: 3\n  template: alpin\n"
            let pasted = browser.form([("mode", "yaml"), ("yaml", yaml)], csrf: browser.csrf)
            let answer = text(try await client.execute(uri: "/deploy", method: .post, headers: pasted.0, body: pasted.1))
            #expect(answer.contains("pasted.yaml:6:13: VMSet/api: spec.template: Template &quot;alpin&quot; is not declared"))
            #expect(answer.contains("aria-describedby=\"yaml-problems\""))
            #expect(try await fixture.store.object(kind: .vmSet, name: "api") == nil)
        }
    }

    @Test("scaling applies the set's own manifest with the new replica count, keeping its cloud-init user data")
    func scale() async throws {
        try await withRouterClient { fixture, client in
            let set = """
                apiVersion: drove/v1
                kind: VMSet
                metadata: { name: web }
                spec:
                  replicas: 3
                  template: alpine
                  cloudInit: { userData: "#!/bin/sh\\necho secret-marker\\n" }
                """
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                         body: ByteBuffer(string: [hostYAML, templateYAML, set].joined(separator: "\n---\n")))
            let browser = try await Self.browser(client)
            let form = browser.form([("replicas", "5")], csrf: browser.csrf)
            let response = try await client.execute(uri: "/vmsets/web/scale", method: .post, headers: form.0, body: form.1)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/vmsets/web?done=scaled")
            let stored = try #require(try await fixture.store.object(kind: .vmSet, name: "web"))
            #expect(stored.generation == 2)
            #expect(stored.manifestText.contains("replicas: 5"))
            #expect(stored.manifestText.contains("secret-marker"))
        }
    }

    @Test("deleting a set needs its confirmation box; then its deletion is requested")
    func delete() async throws {
        try await withRouterClient { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML()))
            let browser = try await Self.browser(client)
            let unconfirmed = browser.form([], csrf: browser.csrf)
            #expect(try await client.execute(uri: "/vmsets/web/delete", method: .post, headers: unconfirmed.0, body: unconfirmed.1).status == .badRequest)
            #expect(try await fixture.store.object(kind: .vmSet, name: "web")?.deletionRequested == false)
            let confirmed = browser.form([("confirm", "yes")], csrf: browser.csrf)
            let response = try await client.execute(uri: "/vmsets/web/delete", method: .post, headers: confirmed.0, body: confirmed.1)
            #expect(response.headers[.location] == "/vmsets/web?done=deleted")
            #expect(try await fixture.store.object(kind: .vmSet, name: "web")?.deletionRequested == true)
        }
    }
}

/// A clock the session tests move by hand.
final class TestClock: Sendable {
    private let time = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { time.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { time.withLock { $0 += seconds } }
}
