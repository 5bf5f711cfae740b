import DroveManifest
import Foundation
import Testing

/// GitSource objects: every field, its defaults, and the URL allow-list that keeps a manifest
/// from making git run a program or read what the operator did not allow.
@Suite("GitSource: fields, defaults and the git URL allow-list")
struct GitSourceTests {
    static let policy = ManifestPolicy(credentialFiles: .under(["/etc/drove/credentials"]), localRepositories: .under(["/srv/git"]))

    func check(_ spec: String, policy: ManifestPolicy = GitSourceTests.policy) -> LoadResult {
        let yaml = "apiVersion: drove/v1\nkind: GitSource\nmetadata: { name: fleet }\nspec:\n" + spec
        return ManifestLoader(workingDirectory: "/work", policy: policy).check(sources: [ManifestSource(name: "sources.yaml", text: yaml, baseDirectory: "/work")])
    }

    func source(_ spec: String, policy: ManifestPolicy = GitSourceTests.policy) throws -> GitSourceSpec {
        let result = check(spec, policy: policy)
        let manifest = try #require(result.manifest, "\(result.diagnostics.map(\.description))")
        return try #require(manifest.gitSource(named: "fleet")).spec
    }

    @Test("defaults: branch main, the whole repository, every minute, no prune, not suspended")
    func defaults() throws {
        let spec = try source("  url: https://git.example.org/infra/fleet.git\n")
        #expect(spec == GitSourceSpec(url: "https://git.example.org/infra/fleet.git"))
        #expect(spec.ref == .branch("main") && spec.path == "" && spec.interval == .seconds(60))
        #expect(!spec.prune && !spec.suspend && !spec.allowEmpty && spec.secretRef == nil && spec.webhookSecretRef == nil)
    }

    @Test("every field, read as written")
    func everyField() throws {
        let spec = try source("""
              url: https://git.example.org/infra/fleet.git
              ref: { tag: release/v1.2 }
              path: ./manifests/prod/
              interval: 1h30m
              prune: true
              suspend: false
              allowEmpty: true
              secretRef: { path: /etc/drove/credentials/fleet-token, username: deploy }
              webhookSecretRef: { path: /etc/drove/credentials/fleet-hook }

            """)
        #expect(spec.ref == .tag("release/v1.2"))
        #expect(spec.ref.refName == "refs/tags/release/v1.2")
        #expect(spec.path == "manifests/prod")
        #expect(spec.interval == .seconds(5400))
        #expect(spec.prune && !spec.suspend && spec.allowEmpty)
        #expect(spec.secretRef == GitCredentials(path: "/etc/drove/credentials/fleet-token", username: "deploy"))
        #expect(spec.webhookSecretRef == "/etc/drove/credentials/fleet-hook")
    }

    @Test("ssh needs a key and a known_hosts file below the credentials directory")
    func sshCredentials() throws {
        let spec = try source("""
              url: ssh://git@git.example.org:2222/infra/fleet.git
              ref: { commit: 0123456789abcdef0123456789abcdef01234567 }
              secretRef: { path: /etc/drove/credentials/id_ed25519, knownHosts: /etc/drove/credentials/known_hosts }

            """)
        #expect(spec.ref == .commit("0123456789abcdef0123456789abcdef01234567") && spec.ref.refName == nil)
        #expect(spec.secretRef?.knownHosts == "/etc/drove/credentials/known_hosts")
        #expect(check("  url: ssh://git@git.example.org/fleet.git\n").diagnostics.map(\.description)
            == ["sources.yaml:5:3: GitSource/fleet: spec.secretRef: required for ssh:// URLs: a private key and a known_hosts file below --credentials-dir"])
        #expect(check("  url: ssh://git@git.example.org/fleet.git\n  secretRef: { path: /etc/drove/credentials/k }\n").diagnostics.map(\.code)
            == [.missingField])
    }

    /// URLs that would make git run a program, read an option, or reach what was not allowed.
    static let refusedURLs: [(url: String, reason: GitURL.Refusal.Reason)] = [
        ("ext::sh -c touch% /tmp/pwned", .runsProgram),
        ("ext::sh -c 'touch /tmp/pwned'", .runsProgram),
        ("EXT::sh", .runsProgram),
        ("fd::3", .transport),
        ("git-remote-x::foo", .transport),
        ("-uhelp", .option),
        ("--upload-pack=touch /tmp/pwned", .option),
        ("git://git.example.org/fleet.git", .transport),
        ("ftp://git.example.org/fleet.git", .transport),
        ("git@github.com:infra/fleet.git", .malformed),
        ("fleet.git", .malformed),
        ("http://git.example.org/fleet.git", .disabledByPolicy),
        ("https://user:token@git.example.org/fleet.git", .credentialsInURL),
        ("https://token@git.example.org/fleet.git", .credentialsInURL),
        ("https://git.example.org/fleet%2egit", .character),
        ("https://git.example.org/fleet.git?x=1", .character),
        ("https://git.example.org/a b", .character),
        ("ssh://-oProxyCommand=touch/fleet.git", .character),
        ("ssh://-oProxyCommand/fleet.git", .authority),
        ("ssh://-oProxyCommand@host/fleet.git", .authority),
        ("https://git.example.org", .path),
        ("file://otherhost/srv/git/fleet.git", .authority),
        ("/srv/elsewhere/fleet.git", .disabledByPolicy),
        ("file:///srv/git/../etc/fleet.git", .path),
        ("/srv/git/./fleet.git", .path),
    ]

    @Test("refused URLs, each with its reason", arguments: refusedURLs)
    func refusedURL(_ url: String, _ reason: GitURL.Refusal.Reason) {
        guard case let .failure(refusal) = GitURL.check(url, policy: Self.policy) else {
            Issue.record("\(url) was accepted")
            return
        }
        #expect(refusal.reason == reason, "\(url): \(refusal.message)")
    }

    @Test("refused at validation with file:line:column")
    func refusedWithPosition() {
        let result = check("  url: \"ext::sh -c touch% /tmp/pwned\"\n")
        #expect(result.manifest == nil)
        let diagnostic = result.diagnostics.first
        #expect(diagnostic?.description.hasPrefix("sources.yaml:5:8: GitSource/fleet: spec.url: \"ext::sh -c touch% /tmp/pwned\" uses git's ext:: transport") == true,
                "\(result.diagnostics.map(\.description))")
        #expect(diagnostic?.code == .refusedByPolicy)
    }

    static let acceptedURLs: [(String, GitURL.Transport, String)] = [
        ("https://git.example.org/infra/fleet.git", .https, "https://git.example.org/infra/fleet.git"),
        ("https://[fe80::1]:8443/fleet.git", .https, "https://[fe80::1]:8443/fleet.git"),
        ("ssh://git@git.example.org:2222/infra/fleet.git", .ssh, "ssh://git@git.example.org:2222/infra/fleet.git"),
        ("/srv/git/fleet.git", .file, "file:///srv/git/fleet.git"),
        ("file:///srv/git/fleet.git/", .file, "file:///srv/git/fleet.git"),
    ]

    @Test("accepted URLs, and what git is given", arguments: acceptedURLs)
    func acceptedURL(_ url: String, _ transport: GitURL.Transport, _ argument: String) throws {
        let checked = try GitURL.check(url, policy: Self.policy).get()
        #expect(checked.transport == transport)
        #expect(checked.argument == argument)
    }

    @Test("http:// only where the operator allows it; local repositories only below their directories")
    func policyDecides() {
        let open = ManifestPolicy(localRepositories: .anywhere, plainHTTPGit: true)
        #expect((try? GitURL.check("http://127.0.0.1:8080/fleet.git", policy: open).get())?.transport == .http)
        #expect((try? GitURL.check("/var/anything/fleet.git", policy: open).get()) != nil)
        guard case let .failure(refusal) = GitURL.check("/srv/git/fleet.git", policy: ManifestPolicy(localRepositories: .nowhere)) else {
            Issue.record("accepted a local repository with none allowed")
            return
        }
        #expect(refusal.message.contains("--repository-dir"))
    }

    @Test("wrong fields, each reported where it is")
    func wrongFields() {
        let result = check("""
              url: https://git.example.org/fleet.git
              ref: { branch: main, tag: v1 }
              path: ../elsewhere
              interval: 5s
              prune: yes
              suspend: "true"
              secretRef: { path: /tmp/token }
              webhookSecretRef: { path: relative/hook }
              extra: 1

            """)
        #expect(result.diagnostics.map(\.description) == [
            "sources.yaml:6:8: GitSource/fleet: spec.ref: name only one of branch, tag or commit (got branch and tag)",
            "sources.yaml:7:9: GitSource/fleet: spec.path: \"../elsewhere\" must be a path inside the repository: relative, without '..' or '.git' components, no component starting with '-', letters, digits, ' ', '.', '_' and '-'",
            "sources.yaml:8:13: GitSource/fleet: spec.interval: \"5s\" is out of range 10s..24h",
            "sources.yaml:9:10: GitSource/fleet: spec.prune: expected true or false, got boolean yes",
            "sources.yaml:10:12: GitSource/fleet: spec.suspend: expected true or false, got string \"true\" (remove the quotes)",
            "sources.yaml:11:22: GitSource/fleet: spec.secretRef.path: \"/tmp/token\": credential files must lie in /etc/drove/credentials",
            "sources.yaml:12:29: GitSource/fleet: spec.webhookSecretRef.path: \"relative/hook\" must be an absolute path without empty, . or .. components",
            "sources.yaml:13:3: GitSource/fleet: spec.extra: unknown field \"extra\" (allowed: url, ref, path, interval, prune, suspend, allowEmpty, secretRef, webhookSecretRef)",
        ])
    }

    @Test("refs: names git would read as options or that leave refs/ are refused; commits are full ids")
    func refs() {
        for ref in ["{ branch: -main }", "{ branch: a..b }", "{ tag: .hidden }", "{ branch: x.lock }", "{ branch: 'a b' }", "{ commit: abc123 }", "{}"] {
            #expect(check("  url: https://git.example.org/fleet.git\n  ref: \(ref)\n").manifest == nil, "\(ref)")
        }
        #expect(check("  url: /srv/git/fleet.git\n  secretRef: { path: /etc/drove/credentials/t }\n").diagnostics.map(\.message)
            == ["a repository on the controller's machine needs no credentials"])
    }

    @Test("durations: h, m, s in that order, each at most once")
    func durations() {
        #expect(DurationText.parse("30s") == 30 && DurationText.parse("1m") == 60 && DurationText.parse("1h30m") == 5400)
        #expect(DurationText.parse("2h5s") == 7205 && DurationText.parse("90s") == 90)
        for bad in ["", "1", "1x", "m", "1s1m", "1m1m", "-1s", "1.5m", " 1m"] { #expect(DurationText.parse(bad) == nil, "\(bad)") }
        #expect(DurationText.format(seconds: 5400) == "1h30m" && DurationText.format(seconds: 0) == "0s")
    }
}
