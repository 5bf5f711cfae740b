import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore

/// A small W3C WebDriver client for Debian's `chromedriver`, driving headless Chromium over
/// loopback only: the browser tests visit nothing but 127.0.0.1.
public struct WebDriver: Sendable {
    public static let chromium = "/usr/bin/chromium"
    public static let chromedriver = "/usr/bin/chromedriver"

    /// Whether Chromium and its driver are installed (`scripts/install-deps.sh` installs both).
    public static var installed: Bool {
        FileManager.default.isExecutableFile(atPath: chromium) && FileManager.default.isExecutableFile(atPath: chromedriver)
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// An element, as WebDriver names it.
    public struct Element: Sendable {
        public let id: String
    }

    let port: Int
    public let session: String

    /// Starts `chromedriver` on a free port and a headless Chromium session with a profile of
    /// its own, runs `body`, and ends both whatever happens.
    public static func withBrowser<T>(width: Int = 1280, height: Int = 900, _ body: (WebDriver) async throws -> T) async throws -> T {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("drove-chromium-\(UUID().uuidString.prefix(8))")
        let port = LoopbackPort.random()
        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: chromedriver)
        driver.arguments = ["--port=\(port)"]
        driver.standardOutput = FileHandle.nullDevice
        driver.standardError = FileHandle.nullDevice
        try driver.run()
        defer {
            // SIGKILL: chromedriver started from the test process ignores SIGTERM. Its browser is
            // gone by then (the session was deleted).
            kill(driver.processIdentifier, SIGKILL)
            driver.waitUntilExit()
            try? FileManager.default.removeItem(at: profile)
        }
        var ready = false
        for _ in 0..<100 where !ready {
            ready = ((try? await Self.call(port, "GET", "/status", nil)) as? [String: Any])?["ready"] as? Bool == true
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard ready else { throw Failure(description: "chromedriver did not answer on port \(port)") }
        let capabilities: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome",
            "goog:chromeOptions": [
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile.path)",
                         "--window-size=\(width),\(height)", "--no-first-run", "--disable-extensions", "--disable-sync",
                         "--disable-background-networking", "--disable-component-update"],
            ],
        ]]]
        let created = try await Self.call(port, "POST", "/session", capabilities) as? [String: Any]
        guard let session = created?["sessionId"] as? String else { throw Failure(description: "no WebDriver session: \(String(describing: created))") }
        let browser = WebDriver(port: port, session: session)
        do {
            let result = try await body(browser)
            _ = try? await Self.call(port, "DELETE", "/session/\(session)", nil)
            return result
        } catch {
            _ = try? await Self.call(port, "DELETE", "/session/\(session)", nil)
            throw error
        }
    }

    // MARK: - Commands

    public func open(_ url: String) async throws {
        _ = try await command("POST", "/url", ["url": url])
    }

    public func currentURL() async throws -> String {
        try await command("GET", "/url", nil) as? String ?? ""
    }

    public func title() async throws -> String {
        try await command("GET", "/title", nil) as? String ?? ""
    }

    public func find(_ css: String) async throws -> Element {
        try Self.element(try await command("POST", "/element", ["using": "css selector", "value": css]))
    }

    public func findAll(_ css: String) async throws -> [Element] {
        let found = try await command("POST", "/elements", ["using": "css selector", "value": css]) as? [Any] ?? []
        return try found.map(Self.element)
    }

    public func text(_ element: Element) async throws -> String {
        try await command("GET", "/element/\(element.id)/text", nil) as? String ?? ""
    }

    /// Keys sent as they are, without clearing first (a file input takes a file's path so).
    public func sendKeys(_ element: Element, _ text: String) async throws {
        _ = try await command("POST", "/element/\(element.id)/value", ["text": text])
    }

    public func type(_ element: Element, _ text: String) async throws {
        _ = try await command("POST", "/element/\(element.id)/clear", [:])
        _ = try await command("POST", "/element/\(element.id)/value", ["text": text])
    }

    public func click(_ element: Element) async throws {
        _ = try await command("POST", "/element/\(element.id)/click", [:])
    }

    /// Runs `script` in the page (a function body: `return …`).
    @discardableResult
    public func execute(_ script: String, _ arguments: [Any] = []) async throws -> Any? {
        try await command("POST", "/execute/sync", ["script": script, "args": arguments])
    }

    /// A PNG of the viewport.
    public func screenshot() async throws -> Data {
        guard let text = try await command("GET", "/screenshot", nil) as? String, let data = Data(base64Encoded: text) else {
            throw Failure(description: "no screenshot in the answer")
        }
        return data
    }

    /// A new tab, made current; returns its handle.
    public func newWindow() async throws -> String {
        let answer = try await command("POST", "/window/new", ["type": "tab"]) as? [String: Any]
        guard let handle = answer?["handle"] as? String else { throw Failure(description: "no window handle") }
        try await switchTo(window: handle)
        return handle
    }

    public func window() async throws -> String {
        try await command("GET", "/window", nil) as? String ?? ""
    }

    public func switchTo(window handle: String) async throws {
        _ = try await command("POST", "/window", ["handle": handle])
    }

    /// The page's whole text, as a person reads it.
    public func pageText() async throws -> String {
        try await execute("return document.body ? document.body.innerText : ''") as? String ?? ""
    }

    /// Waits until `condition` holds, checking every half second.
    public func waitUntil(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw Failure(description: "timed out after \(timeout) waiting for \(what)")
    }

    // MARK: - Wire

    func command(_ method: String, _ path: String, _ body: [String: Any]?) async throws -> Any? {
        try await Self.call(port, method, "/session/\(session)\(path)", body)
    }

    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    static func element(_ value: Any?) throws -> Element {
        guard let object = value as? [String: Any], let id = object[elementKey] as? String else {
            throw Failure(description: "not an element: \(String(describing: value))")
        }
        return Element(id: id)
    }

    /// One WebDriver call over its own connection (Foundation's URLSession on Linux fails on
    /// chromedriver's answers): JSON in, the answer's `value` out; a WebDriver error is thrown.
    static func call(_ port: Int, _ method: String, _ path: String, _ body: [String: Any]?) async throws -> Any? {
        let request = TestClient.Request(
            path, method: HTTPRequest.Method(rawValue: method)!, authority: "127.0.0.1:\(port)",
            headers: [.contentType: "application/json"],
            body: try body.map { ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: $0)) })
        let response = try await TestClient.withClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(120))) {
            try await $0.execute(request)
        }
        let answer = try JSONSerialization.jsonObject(with: Data((response.body ?? ByteBuffer()).readableBytesView), options: [.fragmentsAllowed]) as? [String: Any]
        let value = answer?["value"]
        if let failure = value as? [String: Any], let error = failure["error"] as? String {
            throw Failure(description: "WebDriver \(method) \(path): \(error): \(failure["message"] as? String ?? "")")
        }
        return value is NSNull ? nil : value
    }
}
