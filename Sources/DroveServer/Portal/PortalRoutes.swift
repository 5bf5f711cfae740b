import DroveAPI
import DroveManifest
import Foundation
import Hummingbird

/// The portal's routes: pages (`GET`, a session needed, else off to sign-in) and forms
/// (`POST`, a session and its CSRF token needed, else 403 and nothing done).
struct PortalRoutes: Sendable {
    let api: PortalAPI
    let sessions: PortalSessions
    let configuration: PortalConfiguration
    let renderer: PortalRenderer
    let maxFormBytes: Int

    /// Holds the sign-in form's token until it is posted, so that another site cannot sign a
    /// browser in with a token of its choosing.
    static let signInCookie = "drove_signin"

    var pages: FleetPages { FleetPages(api: api) }

    func register(on router: Router<DroveRequestContext>) {
        for asset in PortalAssets.all {
            router.get(RouterPath("/ui/static/\(asset.name)")) { _, _ in asset.response() }
        }
        let portal = router.group().add(middleware: PortalErrorMiddleware(renderer: renderer))
        portal.get("/signin") { request, _ in await signInPage(request) }
        portal.post("/signin") { request, _ in try await signIn(request) }
        portal.post("/signout") { request, _ in
            try await withForm(request) { session, _ in
                await sessions.remove(id: session.id)
                var response = redirect("/signin")
                response.setCookie(cookie(PortalSessions.cookieName, "", path: "/", maxAge: 0))
                return response
            }
        }
        portal.get("/") { request, _ in
            try await withSession(request) { session in
                let chrome = chrome("Overview", session: session, nav: \.overview)
                return renderer.response(.overview, try await pages.overview(chrome, as: session.principal))
            }
        }
        portal.get("/templates") { request, _ in
            try await withSession(request) { session in
                let chrome = chrome("Templates", session: session, nav: \.templates)
                return renderer.response(.templates, try await pages.templates(chrome, as: session.principal))
            }
        }
        portal.get("/vms") { request, _ in
            try await withSession(request) { session in
                let query = request.uri.queryParameters
                let filter = { (name: String) in query[Substring(name)].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
                let chrome = chrome("VMs", session: session, nav: \.vms)
                return renderer.response(.vms, try await pages.vms(chrome, set: filter("set"), host: filter("host"), phase: filter("phase"),
                                                               as: session.principal))
            }
        }
        portal.get("/deploy") { request, _ in
            try await withSession(request) { session in
                try await deployPage(session, input: DeployInput())
            }
        }
        portal.post("/deploy") { request, _ in
            try await withForm(request) { session, form in try await deploy(session, form: form) }
        }
        portal.get("/vmsets/{name}") { request, context in
            try await withSession(request) { session in
                try await setPage(session, name: context.parameters.get("name") ?? "", done: request.uri.queryParameters["done"].map(String.init))
            }
        }
        portal.post("/vmsets/{name}/scale") { request, context in
            try await withForm(request) { session, form in try await scale(session, set: context.parameters.get("name") ?? "", form: form) }
        }
        portal.post("/vmsets/{name}/delete") { request, context in
            try await withForm(request) { session, form in try await delete(session, set: context.parameters.get("name") ?? "", form: form) }
        }
    }

    // MARK: - Sessions

    func session(of request: Request) async -> PortalSession? {
        let header = request.headers[values: .cookie].joined(separator: "; ")
        guard let id = PortalSessions.sessionID(inCookieHeader: header) else { return nil }
        return await sessions.session(id: id)
    }

    /// A page for a signed-in browser; anyone else is sent to sign in, and back here after.
    func withSession(_ request: Request, _ body: (PortalSession) async throws -> Response) async throws -> Response {
        guard let session = await session(of: request) else {
            let next = request.uri.description.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"
            return redirect("/signin?next=\(next)")
        }
        return try await body(session)
    }

    /// A form post: refused with 403, before anything is done, without a live session or
    /// without that session's CSRF token.
    func withForm(_ request: Request, _ body: (PortalSession, [String: String]) async throws -> Response) async throws -> Response {
        let form = try await FormBody.read(request, limit: maxFormBytes)
        guard let session = await session(of: request) else {
            return errorPage(.forbidden, "Your session has ended, so this form was not sent. Sign in again.", session: nil)
        }
        guard let token = form["csrf"], PortalSessions.constantTimeEqual(token, session.csrfToken) else {
            return errorPage(.forbidden, "This form was refused: it did not carry this session's security token. Reload the page and try again.",
                             session: session)
        }
        return try await body(session, form)
    }

    /// The sign-in page; a browser already signed in goes on to `next`.
    func signInPage(_ request: Request) async -> Response {
        let next = Self.localPath(request.uri.queryParameters["next"].map(String.init))
        if await session(of: request) != nil { return redirect(next) }
        return signInForm(next: next)
    }

    /// The sign-in form, with a fresh token in its cookie and a hidden field.
    func signInForm(next: String, error: String? = nil, status: HTTPResponse.Status = .ok) -> Response {
        let token = PortalSessions.randomToken()
        var response = renderer.response(.signIn, SignInPage(chrome: chrome("Sign in", session: nil, nav: nil, live: false),
                                                             error: error, signinToken: token, next: next), status: status)
        response.setCookie(cookie(Self.signInCookie, token, path: "/signin", maxAge: 1800))
        return response
    }

    func signIn(_ request: Request) async throws -> Response {
        let form = try await FormBody.read(request, limit: maxFormBytes)
        let cookies = request.headers[values: .cookie].joined(separator: "; ")
        guard let expected = PortalSessions.cookie(named: Self.signInCookie, in: cookies), let sent = form["signin"],
              PortalSessions.constantTimeEqual(sent, expected) else {
            return errorPage(.forbidden, "This sign-in form was refused: it did not come from this page. Open the sign-in page and try again.",
                             session: nil)
        }
        guard let token = form["token"], !token.isEmpty, let principal = await configuration.authenticate(token) else {
            return signInForm(next: Self.localPath(form["next"]), error: "That token is not valid.", status: .unauthorized)
        }
        let session = await sessions.create(for: principal)
        var response = redirect(Self.localPath(form["next"]))
        response.setCookie(cookie(PortalSessions.cookieName, session.id, path: "/", maxAge: Int(configuration.sessionLifetime.components.seconds)))
        response.setCookie(cookie(Self.signInCookie, "", path: "/signin", maxAge: 0))
        return response
    }

    // MARK: - Deploy, scale, delete

    func deployPage(_ session: PortalSession, input: DeployInput, diagnostics: [Diagnostic] = [], error: String? = nil,
                    status: HTTPResponse.Status = .ok) async throws -> Response {
        let templates = try await api.list(.template, as: session.principal).filter { !$0.deletionRequested }.map(\.name)
        let page = DeployPage.make(chrome("Deploy", session: session, nav: \.deploy, live: false), templates: templates, input: input,
                                   diagnostics: diagnostics, error: error)
        return renderer.response(.deploy, page, status: status)
    }

    func deploy(_ session: PortalSession, form: [String: String]) async throws -> Response {
        let input = DeployInput(form: form)
        do {
            let results = try await api.apply([input.source(baseDirectory: FileManager.default.currentDirectoryPath)], as: session.principal)
            guard let set = results.results.first(where: { $0.kind == ObjectKind.vmSet.rawValue }) else { return redirect("/") }
            return redirect(PortalPaths.set(set.name) + "?done=applied")
        } catch {
            return try await deployPage(session, input: input, diagnostics: error.diagnostics,
                                        error: error.diagnostics.isEmpty ? error.message : nil, status: error.status)
        }
    }

    func setPage(_ session: PortalSession, name: String, done: String?) async throws -> Response {
        let reference = ObjectReference(kind: .vmSet, name: name)
        let set = try await api.get(reference, as: session.principal)
        let vms = try await api.vms(set: name, as: session.principal)
        let events = try await api.recentEvents(20, object: reference, as: session.principal)
        let notice: SetPage.Notice? = switch done {
        case "applied": SetPage.Notice(text: "Applied: the controller is rolling it out.", tone: "ok")
        case "scaled": SetPage.Notice(text: "Scaled: the controller is adding or removing VMs.", tone: "ok")
        case "deleted": SetPage.Notice(text: "Deletion requested: the controller is removing its VMs and disks.", tone: "ok")
        default: nil
        }
        let chrome = chrome("VM set \(name)", session: session, nav: nil)
        return renderer.response(.vmSet, SetPage.make(chrome, set: set, vms: vms, events: events, principal: session.principal, notice: notice))
    }

    func scale(_ session: PortalSession, set name: String, form: [String: String]) async throws -> Response {
        guard let replicas = form["replicas"].flatMap({ Int($0) }), (0...10_000).contains(replicas) else {
            return errorPage(.badRequest, "Replicas must be a whole number from 0 to 10000.", session: session, back: PortalPaths.set(name))
        }
        guard let stored = try await api.storedManifest(ofSet: name) else { throw APIError.notFound(ObjectReference(kind: .vmSet, name: name)) }
        guard let text = SetPage.scaled(stored.text, to: replicas) else {
            throw APIError(.internalServerError, "VMSet/\(name): its stored manifest is not one YAML mapping with a spec")
        }
        _ = try await api.apply([ManifestSource(name: "portal-scale.yaml", text: text, baseDirectory: stored.baseDirectory)], as: session.principal)
        return redirect(PortalPaths.set(name) + "?done=scaled")
    }

    func delete(_ session: PortalSession, set name: String, form: [String: String]) async throws -> Response {
        guard form["confirm"] == "yes" else {
            return errorPage(.badRequest, "Tick the box to confirm the deletion.", session: session, back: PortalPaths.set(name))
        }
        let reference = ObjectReference(kind: .vmSet, name: name)
        guard try await api.delete(reference, as: session.principal) != .notFound else { throw APIError.notFound(reference) }
        return redirect(PortalPaths.set(name) + "?done=deleted")
    }

    // MARK: - Answers

    func chrome(_ title: String, session: PortalSession?, nav: WritableKeyPath<Chrome.Nav, Bool>?, live: Bool = true) -> Chrome {
        var flags = Chrome.Nav()
        if let nav { flags[keyPath: nav] = true }
        return Chrome(title: title, heading: title, user: session.map { UserView($0.principal) }, csrf: session?.csrfToken, nav: flags,
                      live: live && session != nil)
    }

    func errorPage(_ status: HTTPResponse.Status, _ message: String, session: PortalSession?, back: String? = nil) -> Response {
        ErrorPage.response(renderer, status: status, message: message, chrome: chrome(status.reasonPhrase, session: session, nav: nil, live: false),
                           back: back ?? (session == nil ? "/signin" : "/"))
    }

    func redirect(_ path: String) -> Response {
        Response(status: .seeOther, headers: [.location: path, .cacheControl: "no-store"])
    }

    /// The portal's cookies: HttpOnly, SameSite=Strict, Secure under TLS.
    func cookie(_ name: String, _ value: String, path: String, maxAge: Int) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: configuration.secureCookies, httpOnly: true, sameSite: .strict)
    }

    /// `next` when it is a path on this server (`/vms?set=web`), else `/`: never another site.
    static func localPath(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"),
              !next.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return "/" }
        return next
    }
}

struct SignInPage {
    var chrome: Chrome
    var error: String?
    var signinToken: String
    var next: String
}

/// An error as a page: its status, what went wrong, and a way back.
struct ErrorPage {
    var chrome: Chrome
    var message: String
    var back: String
    var backLabel: String

    static func response(_ renderer: PortalRenderer, status: HTTPResponse.Status, message: String, chrome: Chrome, back: String) -> Response {
        var chrome = chrome
        chrome.heading = "\(status.code) \(status.reasonPhrase)"
        return renderer.response(.error, ErrorPage(chrome: chrome, message: message, back: back,
                                                   backLabel: back == "/signin" ? "Sign in" : "Back"), status: status)
    }
}

/// Every error of a portal route as a page rather than JSON: the API's errors with their status
/// and message, anything else as 500.
struct PortalErrorMiddleware: RouterMiddleware {
    typealias Context = DroveRequestContext
    let renderer: PortalRenderer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return page(error.status, error.message)
        } catch let error as any HTTPResponseError {
            return page(error.status, "\(request.method) \(request.uri.path): \(error.status.reasonPhrase)")
        } catch {
            return page(.internalServerError, "\(request.method) \(request.uri.path): \(error)")
        }
    }

    func page(_ status: HTTPResponse.Status, _ message: String) -> Response {
        ErrorPage.response(renderer, status: status, message: message,
                           chrome: Chrome(title: status.reasonPhrase, heading: "", nav: Chrome.Nav(), live: false), back: "/")
    }
}
