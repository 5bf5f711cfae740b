import DroveTestSupport
import Foundation
import Testing

/// The portal in a real headless Chromium (driven through chromedriver) against a real
/// `drove serve` on the lab: sign-in, pages that show what the API shows, a deployment made on
/// the Deploy page reaching Ready and appearing on the VMs page without a reload, and a form
/// without its CSRF token refused. Under CI a missing lab or browser fails these, never skips.
@Suite(.serialized, .enabled(if: (LabHost.socket != nil && WebDriver.installed) || LabHost.required,
                             "needs a lab (`drove lab up --hosts 3`) and chromium + chromium-driver"),
       .timeLimit(.minutes(10)))
struct PortalBrowserTests {
    let suffix = String(UUID().uuidString.prefix(4).lowercased())

    func requirements() throws {
        try #require(WebDriver.installed, "chromium and chromium-driver are missing: run scripts/install-deps.sh")
        try #require(LabHost.hostsYAML(count: 3) != nil, "the browser tests need 3 lab hosts: drove lab up --hosts 3")
    }

    @Test("a wrong token stays on the sign-in page with a message; the server's token opens the overview, which lists the API's hosts and templates")
    func signInAndTheOverview() async throws {
        try requirements()
        let serve = try await Serve.start()
        defer { serve.stop() }
        // The lab's hosts and template are only read here, never deployed to: no teardown needed.
        try await serve.applyLab()
        try await WebDriver.withBrowser { browser in
            try await browser.open("\(serve.url)/vms")
            #expect(try await browser.currentURL().contains("/signin?next=%2Fvms"))
            try await signIn(browser, serve, token: "wrong-\(suffix)")
            #expect(try await browser.text(try await browser.find("[role='alert']")) == "That token is not valid.")

            try await signIn(browser, serve)
            try await browser.waitUntil("the overview", timeout: .seconds(10)) { try await browser.title() == "Overview · Drove" }
            let hosts = try await serve.names("hosts")
            #expect(hosts == ["node-1", "node-2", "node-3"])
            try await browser.waitUntil("every host reachable", timeout: .seconds(60)) {
                var shown: [String] = []
                for row in try await browser.findAll("#hosts tbody tr") { shown.append(try await browser.text(row)) }
                return shown.count == hosts.count && zip(shown, hosts).allSatisfy { $0.hasPrefix($1) && $0.contains("reachable") && !$0.contains("unreachable") }
            }
            let templates = try await browser.findAll("#templates tbody th")
            #expect(templates.count == 1)
            #expect(try await browser.text(templates[0]) == "tiny")
        }
    }

    @Test("a deployment made on the Deploy page reaches Ready, and appears on an open VMs page without a reload")
    func deployFromTheDeployPage() async throws {
        try requirements()
        let serve = try await Serve.start()
        defer { serve.stop() }
        try await serve.applyLab()
        let set = "portal\(suffix)"
        do {
            try await WebDriver.withBrowser(height: 1000) { browser in
                try await browser.open("\(serve.url)/signin")
                try await screenshot(browser, "signin")
                try await signIn(browser, serve)
                try await browser.waitUntil("the overview", timeout: .seconds(10)) { try await browser.title() == "Overview · Drove" }

                // The VMs page, open in the first tab; the mark on its window goes with a reload.
                let vmsTab = try await browser.window()
                try await browser.open("\(serve.url)/vms")
                try await browser.execute("window.droveMark = 'no reload'; return true")
                try await browser.waitUntil("the watch stream open", timeout: .seconds(10)) {
                    try await browser.execute("return document.getElementById('live-state').hidden") as? Bool == true
                }

                // An invalid value first: the loader's message next to the field, nothing applied.
                _ = try await browser.newWindow()
                try await browser.open("\(serve.url)/deploy")
                try await browser.click(try await browser.find("#deploy-template option[value='tiny']"))
                try await browser.type(try await browser.find("#deploy-name"), set)
                try await browser.type(try await browser.find("#deploy-replicas"), "1")
                try await browser.type(try await browser.find("#deploy-vcpus"), "1")
                try await browser.type(try await browser.find("#deploy-memory"), "96MB")
                try await submitAndWait(browser, "form[action='/deploy'] button[type='submit']")
                let problem = try await browser.text(try await browser.find("#deploy-memory-problems"))
                #expect(problem.contains("\"96MB\" is not a quantity"), "\(problem)")
                #expect(try await serve.status(of: "vmsets/\(set)") == 404)
                try await screenshot(browser, "deploy")

                try await browser.type(try await browser.find("#deploy-memory"), "96Mi")
                try await submitAndWait(browser, "form[action='/deploy'] button[type='submit']")
                try await browser.waitUntil("the set's page", timeout: .seconds(10)) {
                    try await browser.currentURL().hasSuffix("/vmsets/\(set)?done=applied")
                }
                // The set's page follows the rollout by itself.
                try await browser.waitUntil("\(set) Ready on its page", timeout: .seconds(240)) {
                    let badges = try await browser.findAll("#rollout tbody tr:first-child .badge.ok")
                    return !badges.isEmpty
                }
                let api = try await serve.get("vmsets/\(set)")
                let conditions = (api["status"] as? [String: Any])?["conditions"] as? [[String: Any]] ?? []
                #expect(conditions.first?["reason"] as? String == "AllReplicasReady")
                #expect(try await browser.pageText().contains("AllReplicasReady"))
                try await screenshot(browser, "vmset")

                // Back on the VMs page: the new VM is there, Ready, and the page was never reloaded.
                try await browser.switchTo(window: vmsTab)
                try await browser.waitUntil("\(set)-0 ready on the VMs page", timeout: .seconds(30)) {
                    guard let row = try await browser.findAll("tr[data-vm='\(set)-0']").first else { return false }
                    return try await browser.text(row).contains("Running")
                }
                #expect(try await browser.execute("return window.droveMark") as? String == "no reload")
                let shown = try await browser.execute("return [...document.querySelectorAll('tr[data-vm]')].map(r => r.dataset.vm)") as? [String]
                #expect(shown == (try await serve.names("vms")), "the VMs page lists what GET /api/v1/vms lists")
                try await screenshot(browser, "vms")

                try await browser.open("\(serve.url)/templates")
                let copies = try await browser.findAll("#template-list tbody tr td.copy .badge")
                #expect(copies.count == 3)
                try await screenshot(browser, "templates")
                try await browser.open("\(serve.url)/")
                try await browser.waitUntil("the overview counts the VM on its host", timeout: .seconds(10)) {
                    try await browser.pageText().contains("1/1")
                }
                try await screenshot(browser, "overview")
            }
        } catch {
            try await serve.tearDownLab(sets: [set])
            throw error
        }
        try await serve.tearDownLab(sets: [set])
    }

    @Test("a form posted without its CSRF token is refused with 403 and applies nothing")
    func aFormWithoutItsCSRFTokenIsRefused() async throws {
        try requirements()
        let serve = try await Serve.start()
        defer { serve.stop() }
        let set = "forged\(suffix)"
        try await WebDriver.withBrowser { browser in
            try await signIn(browser, serve)
            try await browser.waitUntil("the overview", timeout: .seconds(10)) { try await browser.title() == "Overview · Drove" }
            try await browser.open("\(serve.url)/deploy")
            try await browser.type(try await browser.find("#deploy-name"), set)
            try await browser.execute("document.querySelector(\"form[action='/deploy'] input[name='csrf']\").remove(); return true")
            try await submitAndWait(browser, "form[action='/deploy'] button[type='submit']")
            try await browser.waitUntil("the refusal", timeout: .seconds(10)) { try await browser.title() == "Forbidden · Drove" }
            #expect(try await browser.pageText().contains("did not carry this session's security token"))
            #expect(try await serve.status(of: "vmsets/\(set)") == 404)
        }
    }

    @Test("a deployer signed in on the portal cannot open another user's set: a 403 page, no scale or delete buttons")
    func aDeployerCannotOpenAnotherUsersSet() async throws {
        try requirements()
        let serve = try await Serve.start()
        defer { serve.stop() }
        try await serve.applyLab()
        // The admin's set, with no replicas: nothing is deployed, only its page is at stake.
        let set = "admins\(suffix)"
        let applied = try await serve.post("apply?name=set.yaml", contentType: "application/yaml", body: """
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: \(set) }
            spec: { replicas: 0, template: tiny }
            """)
        #expect(applied == 200)
        let bob = try await serve.addUser("bob\(suffix)", role: "deployer")
        do {
            try await WebDriver.withBrowser { browser in
                try await signIn(browser, serve, token: bob)
                try await browser.waitUntil("the overview", timeout: .seconds(10)) { try await browser.title() == "Overview · Drove" }
                #expect(!(try await browser.pageText().contains(set)), "a deployer's overview lists only its own sets")
                try await browser.open("\(serve.url)/vmsets/\(set)")
                #expect(try await browser.title() == "Forbidden · Drove")
                #expect(try await browser.pageText().contains("belongs to another user"))
                #expect(try await browser.findAll("form[action='/vmsets/\(set)/scale'], form[action='/vmsets/\(set)/delete']").isEmpty)
            }
        } catch {
            try await serve.tearDownLab(sets: [set])
            throw error
        }
        try await serve.tearDownLab(sets: [set])
    }

    @Test("a template uploaded on the Templates page is stored in the template store and listed as the uploader's")
    func uploadOnTheTemplatesPage() async throws {
        try requirements()
        let image = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        let serve = try await Serve.start()
        defer { serve.stop() }
        let name = "uploaded\(suffix)"
        try await WebDriver.withBrowser { browser in
            try await signIn(browser, serve)
            try await browser.waitUntil("the overview", timeout: .seconds(10)) { try await browser.title() == "Overview · Drove" }
            try await browser.open("\(serve.url)/templates")
            try await browser.type(try await browser.find("#upload-name"), name)
            _ = try await browser.execute("document.getElementById('upload-visibility').value = 'shared'; return true")
            try await browser.sendKeys(try await browser.find("#upload-file"), image)
            try await browser.click(try await browser.find("#upload button[type='submit']"))
            try await browser.waitUntil("the upload to finish", timeout: .seconds(60)) {
                try await browser.text(try await browser.find("#upload-status")).hasPrefix("Uploaded")
            }
            #expect(try await browser.execute("return document.getElementById('upload-progress').value") as? Int == 100)
        }
        let template = try await serve.get("templates/\(name)")
        let summary = template["summary"] as? [String: String] ?? [:]
        #expect(summary["blob"]?.hasPrefix("sha256:") == true, "\(template)")
        #expect(summary["visibility"] == "shared")
        #expect(template["owner"] as? String == "admin")
        // Nothing was deployed: the template goes again with the server's data directory.
    }
}
