import DroveGit
import DroveManifest
import Foundation
import Testing

/// git as Drove runs it: nothing in a URL, a repository or the machine's configuration makes
/// it run a program, credentials never reach its arguments, and it never runs forever.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct GitRunnerTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-git-\(UUID().uuidString.prefix(8))")
    var marker: URL { scratch.appendingPathComponent("ran") }

    func runner(_ executable: String = "/usr/bin/git", timeout: Duration = .seconds(30)) throws -> GitRunner {
        let home = scratch.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        return GitRunner(executable: executable, home: home.path, remoteTimeout: timeout, localTimeout: timeout)
    }

    /// An executable shell script standing in for git.
    func fakeGit(_ body: String) throws -> String {
        let path = scratch.appendingPathComponent("fake-git").path
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    @Test("git itself refuses ext:: and fd:: whatever the caller allows: protocol.allow=never")
    func transportHelpersRefusedByGit() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let git = try runner()
        for url in ["ext::sh -c touch% \(marker.path)", "ext::touch \(marker.path)", "fd::0"] {
            for transport in [GitURL.Transport.file, .https, .ssh] {
                do {
                    _ = try await git.run(["ls-remote", "--", url], in: scratch.path, operation: "ls-remote", transport: transport)
                    Issue.record("\(url) over \(transport) was accepted")
                } catch {
                    #expect(error.kind == .exited(128), "\(error)")
                    #expect(error.message.contains("not allowed"), "\(error)")
                }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: marker.path), "ext:: ran its command")
    }

    @Test("the environment is built from nothing; a token travels in it as configuration, never in the arguments")
    func environmentAndArguments() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        setenv("DROVE_TEST_LEAK", "from the controller's own environment", 1)
        defer { unsetenv("DROVE_TEST_LEAK") }
        let out = scratch.path
        let git = try runner(try fakeGit("env > \(out)/env\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \(out)/args"))
        let tokenFile = scratch.appendingPathComponent("token")
        try "s3cret-git-token\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        let policy = ManifestPolicy(credentialFiles: .under([scratch.path]))
        let url = try GitURL.check("https://git.example.org/infra/fleet.git", policy: policy).get()
        let credentials = try GitCredentialEnvironment.load(GitCredentials(path: tokenFile.path, username: "deploy"), for: url, policy: policy)
        #expect("\(credentials)" == "credentials from \(tokenFile.path)")

        let head = try await GitMirror(directory: scratch.path, git: git).update(from: url, ref: .branch("main"), credentials: credentials)
        #expect(head == .refNotFound, "the fake answers nothing")

        let environment = Dictionary(uniqueKeysWithValues: try String(contentsOfFile: "\(out)/env", encoding: .utf8)
            .split(separator: "\n").compactMap { line -> (String, String)? in
                guard let equals = line.firstIndex(of: "=") else { return nil }
                return (String(line[..<equals]), String(line[line.index(after: equals)...]))
            })
        #expect(environment["HOME"] == git.home)
        #expect(environment["GIT_CONFIG_NOSYSTEM"] == "1" && environment["GIT_CONFIG_GLOBAL"] == "/dev/null")
        #expect(environment["GIT_TERMINAL_PROMPT"] == "0")
        #expect(environment["DROVE_TEST_LEAK"] == nil, "nothing inherited")
        #expect(environment["GIT_CONFIG_KEY_0"] == "http.extraHeader")
        let basic = Data("deploy:s3cret-git-token".utf8).base64EncodedString()
        #expect(environment["GIT_CONFIG_VALUE_0"] == "Authorization: Basic \(basic)")

        let arguments = try String(contentsOfFile: "\(out)/args", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(!arguments.contains { $0.contains("s3cret") || $0.contains(basic) }, "\(arguments)")
        #expect(arguments.contains("protocol.allow=never") && arguments.contains("protocol.https.allow=always"))
        #expect(!arguments.contains { $0.hasPrefix("protocol.") && $0.hasSuffix(".allow=always") && $0 != "protocol.https.allow=always" })
        for setting in ["core.hooksPath=/dev/null", "core.fsmonitor=false", "submodule.recurse=false", "transfer.fsckObjects=true",
                        "http.followRedirects=false"] {
            #expect(arguments.contains(setting), "\(setting)")
        }
        let separator = try #require(arguments.firstIndex(of: "--"))
        #expect(arguments[separator + 1] == "https://git.example.org/infra/fleet.git")
    }

    @Test("a git that hangs is stopped at its time limit")
    func timeout() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let git = try runner(try fakeGit("trap '' TERM\nsleep 30"), timeout: .milliseconds(300))
        let start = ContinuousClock.now
        do {
            _ = try await git.run(["fetch"], in: scratch.path, operation: "git fetch from nowhere", transport: .https)
            Issue.record("a hanging git returned")
        } catch {
            #expect(error.kind == .timedOut, "\(error)")
            #expect(error.description.hasPrefix("git fetch from nowhere: timed out: stopped after"), "\(error)")
        }
        // SIGTERM is ignored by the script: SIGKILL two seconds later ends it.
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test("a repository's hooks, filters and submodules never run, nor a hook planted in the mirror")
    func nothingRuns() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let upstream = try Upstream(in: scratch)
        let touch = "touch \(marker.path)"
        try upstream.write(".gitattributes", "*.yaml filter=evil\n")
        try upstream.write(".gitmodules", "[submodule \"evil\"]\n\tpath = evil\n\turl = ext::sh -c touch% \(marker.path)\n")
        try upstream.write("manifests/a.yaml", "apiVersion: drove/v1\n")
        try git(["config", "filter.evil.smudge", touch], in: upstream.work)
        try git(["config", "uploadpack.packObjectsHook", touch], in: upstream.origin)
        try git(["config", "filter.evil.smudge", touch], in: upstream.origin)
        let commit = try upstream.commit("evil")

        let git = try runner()
        let mirror = GitMirror(directory: scratch.appendingPathComponent("mirror.git").path, git: git)
        try await mirror.prepare()
        // Planted after the fact, as if someone got into the data directory.
        let hooks = scratch.appendingPathComponent("mirror.git/hooks")
        try FileManager.default.createDirectory(at: hooks, withIntermediateDirectories: true)
        for hook in ["reference-transaction", "post-checkout", "pre-auto-gc"] {
            let path = hooks.appendingPathComponent(hook).path
            try "#!/bin/sh\n\(touch)\n".write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
        let url = try GitURL.check(upstream.url, policy: ManifestPolicy()).get()
        #expect(try await mirror.update(from: url, ref: .branch("main"), credentials: nil) == .commit(commit))
        guard case let .files(files) = try await RevisionReader(mirror: mirror, baseDirectory: "/nowhere").read(commit, path: "manifests") else {
            Issue.record("manifests not found")
            return
        }
        #expect(files.sources.map(\.name) == ["manifests/a.yaml"])
        #expect(files.sources.first.map { String(decoding: $0.bytes, as: UTF8.self) } == "apiVersion: drove/v1\n", "the bytes as committed")
        #expect(!FileManager.default.fileExists(atPath: marker.path), "something in the repository or the mirror ran")
    }

    @Test("revisions are read as drove validate reads a directory: *.yaml and *.yml, hidden ones skipped, sorted; links refused")
    func readingARevision() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let upstream = try Upstream(in: scratch)
        for (path, text) in [("manifests/b.yaml", "b"), ("manifests/a.yml", "a"), ("manifests/sub/c.yaml", "c"),
                             ("manifests/.hidden/d.yaml", "d"), ("manifests/.e.yaml", "e"), ("manifests/notes.txt", "n"), ("other/f.yaml", "f")] {
            try upstream.write(path, text)
        }
        try FileManager.default.createSymbolicLink(atPath: upstream.work.appendingPathComponent("manifests/link.yaml").path, withDestinationPath: "/etc/passwd")
        let commit = try upstream.commit("files")
        let mirror = GitMirror(directory: scratch.appendingPathComponent("mirror.git").path, git: try runner())
        try await mirror.prepare()
        _ = try await mirror.update(from: try GitURL.check(upstream.url, policy: ManifestPolicy()).get(), ref: .branch("main"), credentials: nil)
        let reader = RevisionReader(mirror: mirror, baseDirectory: "/var/lib/drove/gitsources/fleet.no-checkout")

        guard case let .files(directory) = try await reader.read(commit, path: "manifests") else { Issue.record("no manifests"); return }
        #expect(directory.sources.map(\.name) == ["manifests/a.yml", "manifests/b.yaml", "manifests/sub/c.yaml"])
        #expect(directory.sources.map(\.baseDirectory) == ["/var/lib/drove/gitsources/fleet.no-checkout/manifests",
                                                           "/var/lib/drove/gitsources/fleet.no-checkout/manifests",
                                                           "/var/lib/drove/gitsources/fleet.no-checkout/manifests/sub"])
        #expect(directory.diagnostics.map(\.description) == ["manifests/link.yaml:1:1: <unknown kind>: is a symbolic link; Drove reads only regular files from a repository"])

        guard case let .files(whole) = try await reader.read(commit, path: "") else { Issue.record("no root"); return }
        #expect(whole.sources.map(\.name) == ["manifests/a.yml", "manifests/b.yaml", "manifests/sub/c.yaml", "other/f.yaml"])
        guard case let .files(one) = try await reader.read(commit, path: "other/f.yaml") else { Issue.record("no file"); return }
        #expect(one.sources.map(\.name) == ["other/f.yaml"])
        guard case .pathNotFound = try await reader.read(commit, path: "nowhere") else { Issue.record("a missing path was found"); return }
    }
}
