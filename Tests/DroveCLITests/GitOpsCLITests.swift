import DroveTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// GitSources through the binary as users run it: validate refuses what would make git run a
/// program, `drove sync --wait`, `get` and `describe` report what the controller did, and a
/// `drove serve` killed with SIGKILL while it applies a revision never leaves one half applied.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct GitOpsCLITests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-gitops-cli-\(UUID().uuidString.prefix(6))")
    var repository: URL { scratch.appendingPathComponent("repositories/fleet-work") }
    var origin: URL { scratch.appendingPathComponent("repositories/fleet.git") }
    var images: URL { scratch.appendingPathComponent("images") }

    /// The test's own git, as a person runs it.
    @discardableResult
    func git(_ arguments: [String], in directory: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-c", "user.name=Drove Tests", "-c", "user.email=tests@drove.invalid", "-c", "init.defaultBranch=main"] + arguments
        process.currentDirectoryURL = directory
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": scratch.path, "GIT_CONFIG_NOSYSTEM": "1"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "git \(arguments)")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func prepare() throws {
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        try git(["init", "--quiet", "--bare", origin.path], in: scratch)
        try git(["init", "--quiet", repository.path], in: scratch)
    }

    /// Writes `text` as the repository's manifests, commits and pushes; returns the commit.
    func commit(_ text: String, file: String = "manifests/fleet.yaml") throws -> String {
        let url = repository.appendingPathComponent(file)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
        try git(["add", "-A"], in: repository)
        try git(["commit", "--quiet", "-m", "change"], in: repository)
        try git(["push", "--quiet", origin.path, "HEAD:refs/heads/main"], in: repository)
        return try git(["rev-parse", "HEAD"], in: repository)
    }

    func templates(_ count: Int, label: String) -> String {
        (0..<count).map { """
            apiVersion: drove/v1
            kind: Template
            metadata: { name: t\($0), labels: { rev: "\(label)" } }
            spec: { source: { path: \(images.path)/t\($0).qcow2 } }
            """ }.joined(separator: "\n---\n")
    }

    var sourceYAML: String {
        """
        apiVersion: drove/v1
        kind: GitSource
        metadata: { name: fleet }
        spec: { url: "file://\(origin.path)", path: manifests, interval: 1h, prune: true }
        """
    }

    var serveArguments: [String] { ["--repository-dir", scratch.appendingPathComponent("repositories").path, "--template-dir", images.path] }

    // MARK: The API

    func request(_ method: String, _ path: String, port: Int, yaml: String? = nil) async throws -> (Int, Any?) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if let yaml {
            request.setValue("application/yaml", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(yaml.utf8)
        }
        let (body, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, try? JSONSerialization.jsonObject(with: body))
    }

    /// Every template the controller holds, as (name, revision, rev label).
    func templates(port: Int) async throws -> [(name: String, revision: String?, label: String?)] {
        let (_, list) = try await request("GET", "/api/v1/templates", port: port)
        let items = (list as? [String: Any])?["items"] as? [[String: Any]] ?? []
        return items.map { ($0["name"] as? String ?? "", $0["revision"] as? String, ($0["labels"] as? [String: String])?["rev"]) }
    }

    func startServe(state: URL, port: Int) async throws -> Process {
        let server = Process()
        server.executableURL = droveBinary
        server.arguments = ["serve", "--data-dir", state.path, "--port", String(port)] + serveArguments
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        for _ in 0..<100 {
            if (try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!)) != nil { return server }
            try await Task.sleep(for: .milliseconds(50))
        }
        server.terminate()
        Issue.record("drove serve did not answer on port \(port)")
        throw CancellationError()
    }

    func wait(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting until \(what)")
        throw CancellationError()
    }

    // MARK: Tests

    @Test("validate refuses a GitSource URL that would make git run a program, with file:line:column, and runs nothing")
    func validateRefuses() throws {
        try prepare()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let marker = scratch.appendingPathComponent("ran")
        for url in ["ext::sh -c touch% \(marker.path)", "--upload-pack=touch \(marker.path)", "fd::0"] {
            try "apiVersion: drove/v1\nkind: GitSource\nmetadata: { name: evil }\nspec:\n  url: \"\(url)\"\n"
                .write(to: scratch.appendingPathComponent("source.yaml"), atomically: true, encoding: .utf8)
            let (status, output) = try runDrove(["validate", "-f", "source.yaml"], in: scratch)
            #expect(status == 1, "\(url): \(output)")
            #expect(output.contains("source.yaml:5:8: GitSource/evil: spec.url: \"\(url)\""), "\(output)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker.path))
    }

    @Test("drove sync --wait applies and waits; get, describe and /metrics show it; a broken commit exits 1 with file:line:column")
    func syncGetDescribe() async throws {
        try prepare()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let first = try commit(templates(2, label: "1"))
        try sourceYAML.write(to: scratch.appendingPathComponent("source.yaml"), atomically: true, encoding: .utf8)
        try await withServe(dataDirectory: scratch.appendingPathComponent("state"), serveArguments) { port in
            let environment = ["DROVE_SERVER": "http://127.0.0.1:\(port)"]
            #expect(try runDrove(["apply", "-f", "source.yaml"], in: scratch, environment: environment).status == 0)
            let synced = try runDrove(["sync", "gitsource", "fleet", "--wait", "--timeout", "60s"], in: scratch, environment: environment)
            #expect(synced.status == 0, "\(synced.output)")
            #expect(synced.output.contains("gitsource/fleet: revision \(first.prefix(12)) applied, 2 objects, fleet converged"), "\(synced.output)")

            let get = try runDrove(["get", "gitsources"], in: scratch, environment: environment)
            let lines = get.output.split(separator: "\n")
            #expect(lines.first?.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") == "NAME URL REF APPLIED REVISION READY AGE")
            #expect(lines.dropFirst().first?.contains("fleet") == true && lines.dropFirst().first?.contains(String(first.prefix(12))) == true,
                    "\(get.output)")
            let describe = try runDrove(["describe", "gitsource", "fleet"], in: scratch, environment: environment)
            #expect(describe.output.contains("Applied:") && describe.output.contains(first), "\(describe.output)")
            let owned = describe.output.split(separator: "\n").drop { !$0.contains("Owned objects:") }.dropFirst(2).prefix(2)
                .map { $0.split(separator: " ").joined(separator: " ") }
            #expect(owned == ["Template t0 \(first.prefix(12)) Pending", "Template t1 \(first.prefix(12)) Pending"], "\(describe.output)")

            let metrics = String(decoding: try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!).0, as: UTF8.self)
            for name in ["drove_gitsource_sync_duration_seconds_count{source=\"fleet\",result=\"applied\"}", "drove_gitsource_revision_age_seconds{source=\"fleet\"}"] {
                #expect(metrics.contains(name), "\(name) in /metrics")
            }

            _ = try commit(templates(2, label: "2").replacingOccurrences(of: "metadata: { name: t1", with: "metadata: { nme: t1"))
            let broken = try runDrove(["sync", "gitsource/fleet", "--wait", "--timeout", "60s"], in: scratch, environment: environment)
            #expect(broken.status == 1, "\(broken.output)")
            #expect(broken.output.contains("error: GitSource/fleet: revision "), "\(broken.output)")
            #expect(broken.output.contains("manifests/fleet.yaml:8:11: Template/<unnamed>: metadata.name: required field is missing"), "\(broken.output)")
            #expect(broken.output.contains("manifests/fleet.yaml:8:13: Template/<unnamed>: metadata.nme: unknown field \"nme\" (did you mean \"name\"?)"))
            let metricsAfter = String(decoding: try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!).0, as: UTF8.self)
            #expect(metricsAfter.contains("drove_gitsource_sync_failures_total{source=\"fleet\",reason=\"InvalidRevision\"} 1"), "\(metricsAfter)")
        }
    }

    @Test("drove serve killed with SIGKILL while it applies a revision: after a restart no revision is half applied, and it converges on the new one")
    func killedMidApply() async throws {
        try prepare()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let count = 200
        var revisions = [try commit(templates(count, label: "1")): "1"]
        let state = scratch.appendingPathComponent("state")
        var port = LoopbackPort.random()
        var server = try await startServe(state: state, port: port)
        defer { if server.isRunning { server.terminate(); server.waitUntilExit() } }
        #expect(try await request("POST", "/api/v1/apply?name=source.yaml", port: port, yaml: sourceYAML).0 == 200)
        try await wait("the first revision applied") { try await templates(port: port).filter { $0.label == "1" }.count == count }

        // How long a sync of a new revision takes here (its own metric), so the kills below
        // spread over it.
        func syncSeconds() async throws -> Double {
            let metrics = String(decoding: try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!).0, as: UTF8.self)
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("drove_gitsource_sync_duration_seconds_sum{source=\"fleet\",result=\"applied\"}") }
            return line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
        }
        let timed = try commit(templates(count, label: "timed"))
        revisions[timed] = "timed"
        let before = try await syncSeconds()
        #expect(try await request("POST", "/api/v1/gitsources/fleet/sync", port: port).0 == 202)
        try await wait("the timed revision applied") { try await templates(port: port).allSatisfy { $0.revision == timed } }
        let took = Int((try await syncSeconds() - before) * 1000)
        #expect(took > 0, "the sync's duration was recorded")

        var seenOld = 0, seenNew = 0
        for round in 2...7 {
            let label = "\(round)"
            let revision = try commit(templates(count, label: label))
            revisions[revision] = label
            #expect(try await request("POST", "/api/v1/gitsources/fleet/sync", port: port).0 == 202)
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...max(1, took * 3 / 2))))
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()

            port = LoopbackPort.random()
            server = try await startServe(state: state, port: port)
            // Whatever moment the kill came at, a read sees one whole revision: every template
            // of it, each with the labels that revision gave it.
            let seen = try await templates(port: port)
            #expect(seen.count == count, "round \(round): \(seen.count) templates")
            let held = Set(seen.map(\.revision))
            #expect(held.count == 1, "round \(round): templates at \(held.count) revisions at once")
            if let only = held.first, let only, let expected = revisions[only] {
                #expect(seen.allSatisfy { $0.label == expected }, "round \(round): a template's labels are not its revision's")
                if expected == label { seenNew += 1 } else { seenOld += 1 }
            } else {
                Issue.record("round \(round): templates at an unknown revision \(held)")
            }
            try await wait("round \(round): converged on the new revision after the restart") {
                try await templates(port: port).allSatisfy { $0.revision == revision && $0.label == label }
            }
        }
        // Which side of the commit each kill fell on depends on timing; both are whole.
        print("SIGKILL over a \(took) ms sync: \(seenOld) rounds found the old revision whole, \(seenNew) the new one whole")
    }
}
