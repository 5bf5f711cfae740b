import Hummingbird
import Mustache

/// Renders the portal's pages with Mustache, from templates compiled into the binary, and
/// answers them with headers that keep the page to its own origin.
struct PortalRenderer: Sendable {
    enum Page: String, CaseIterable {
        case signIn, error, overview, templates, vms, deploy, vmSet
    }

    let library: MustacheLibrary

    init() {
        let sources: [String: String] = [
            "head": LayoutTemplates.head, "foot": LayoutTemplates.foot, "badge": OverviewTemplates.badge,
            "events": OverviewTemplates.events, "vmTable": FleetTemplates.vmTable, "problems": DeployTemplates.problems,
            Page.signIn.rawValue: LayoutTemplates.signIn, Page.error.rawValue: LayoutTemplates.error,
            Page.overview.rawValue: OverviewTemplates.overview, Page.templates.rawValue: FleetTemplates.templates,
            Page.vms.rawValue: FleetTemplates.vms, Page.deploy.rawValue: DeployTemplates.deploy, Page.vmSet.rawValue: DeployTemplates.vmSet,
        ]
        var library = MustacheLibrary()
        for (name, text) in sources {
            // The templates are constants of this file's module: one that does not parse is a
            // programming error, caught by the first test that renders any page.
            do {
                try library.register(text, named: name)
            } catch {
                preconditionFailure("portal template \(name) does not parse: \(error)")
            }
        }
        self.library = library
    }

    /// Headers of every page: no caching (pages show live state and carry the CSRF token), and
    /// nothing loaded, framed or posted beyond this origin.
    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        .xContentTypeOptions: "nosniff",
        .init("Referrer-Policy")!: "same-origin",
        .init("X-Frame-Options")!: "DENY",
    ]

    func response(_ page: Page, _ context: Any, status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(context, withTemplate: page.rawValue) ?? ""
        return Response(status: status, headers: Self.pageHeaders, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}
