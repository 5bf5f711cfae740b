import DroveTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `drove serve` as a user runs it (the built binary), with a token file, on a port and data
/// directory of its own; and the API calls the tests check the pages against.
struct Serve {
    let scratch: URL
    let port: Int
    let process: Process
    let token = "portal-\(UUID().uuidString)"

    var url: String { "http://127.0.0.1:\(port)" }

    static func start() async throws -> Serve {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-portal-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let port = LoopbackPort.random()
        let process = Process()
        process.executableURL = LabHost.repository.appendingPathComponent(".build/debug/drove")
        let serve = Serve(scratch: scratch, port: port, process: process)
        try (serve.token + "\n").write(to: scratch.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        process.arguments = ["serve", "--data-dir", scratch.appendingPathComponent("state").path, "--port", String(port),
                             "--token-file", scratch.appendingPathComponent("token").path, "--resync", "10s",
                             "--template-dir", LabHost.repository.appendingPathComponent("manifests/images").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if (try? await URLSession.shared.data(from: URL(string: "\(serve.url)/healthz")!)) != nil { return serve }
            try await Task.sleep(for: .milliseconds(100))
        }
        serve.stop()
        throw WebDriver.Failure(description: "drove serve did not answer on port \(port)")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: scratch)
    }

    /// `GET /api/v1/PATH`, as JSON.
    func get(_ path: String) async throws -> [String: Any] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "\(url)/api/v1/\(path)")!)
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// The names of `GET /api/v1/PATH`'s items, in order.
    func names(_ path: String) async throws -> [String] {
        (try await get(path)["items"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    func status(of path: String) async throws -> Int {
        let (_, response) = try await URLSession.shared.data(from: URL(string: "\(url)/api/v1/\(path)")!)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }

    /// `POST /api/v1/PATH` with the bearer token.
    @discardableResult
    func post(_ path: String, contentType: String, body: String) async throws -> Int {
        var request = URLRequest(url: URL(string: "\(url)/api/v1/\(path)")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }

    /// Adds a user through the API, as the admin; its token.
    func addUser(_ name: String, role: String) async throws -> String {
        var request = URLRequest(url: URL(string: "\(url)/api/v1/users")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"name":"\#(name)","role":"\#(role)"}"#.utf8)
        let (data, _) = try await URLSession.shared.data(for: request)
        let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try #require(answer?["token"] as? String, "no token in \(String(decoding: data, as: UTF8.self))")
    }

    /// The lab's three hosts and the tiny template, applied through the API.
    func applyLab() async throws {
        let hosts = try #require(LabHost.hostsYAML(count: 3), "the browser tests need 3 lab hosts: drove lab up --hosts 3")
        let tiny = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        let template = "apiVersion: drove/v1\nkind: Template\nmetadata: { name: tiny }\nspec: { source: { path: \"\(tiny)\" }, readiness: agent }"
        #expect(try await post("apply?name=lab.yaml", contentType: "application/yaml", body: hosts + "\n---\n" + template) == 200)
    }

    /// Deletes everything applied, and waits until the controller has removed it from the lab.
    func tearDownLab(sets: [String]) async throws {
        let objects = sets.map { ["kind": "VMSet", "name": $0] } + [["kind": "Template", "name": "tiny"]]
            + (1...3).map { ["kind": "Host", "name": "node-\($0)"] }
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["objects": objects]), as: UTF8.self)
        _ = try await post("delete", contentType: "application/json", body: body)
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            if try await names("vmsets").isEmpty, try await names("hosts").isEmpty { return }
            try await Task.sleep(for: .seconds(1))
        }
        Issue.record("the lab objects were not pruned within 3 minutes")
    }
}

/// Signs the browser in on the sign-in page, as a person does.
func signIn(_ browser: WebDriver, _ serve: Serve, token: String? = nil) async throws {
    try await browser.open("\(serve.url)/signin")
    try await browser.type(try await browser.find("#token"), token ?? serve.token)
    try await submitAndWait(browser, "form[action='/signin'] button[type='submit']")
}

/// Clicks a form's submit button and waits until the answer's page has loaded: a click returns
/// once the form is sent, not once the next page is there. The mark set on the old page's
/// window is gone from the new one.
func submitAndWait(_ browser: WebDriver, _ button: String) async throws {
    try await browser.execute("window.droveSubmitted = true; return true")
    try await browser.click(try await browser.find(button))
    try await browser.waitUntil("the answer to the form", timeout: .seconds(15)) {
        try await browser.execute("return window.droveSubmitted !== true && document.readyState === 'complete'") as? Bool == true
    }
}

/// Saves a PNG of the page into `DROVE_PORTAL_SCREENSHOTS` (docs/portal/ by the screenshot
/// script), when that is set.
func screenshot(_ browser: WebDriver, _ name: String) async throws {
    guard let directory = ProcessInfo.processInfo.environment["DROVE_PORTAL_SCREENSHOTS"] else { return }
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try await browser.screenshot().write(to: URL(fileURLWithPath: directory).appendingPathComponent("\(name).png"))
}
