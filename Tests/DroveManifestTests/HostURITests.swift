import DroveManifest
import Foundation
import Testing

/// The host URI allow-list: what a manifest may make Drove connect to, and what it never may.
@Suite("Host URIs: an allow-list, so a manifest never makes Drove run a program")
struct HostURITests {
    struct Refused: Sendable, CustomTestStringConvertible {
        var uri: String
        var reason: HostURI.Refusal.Reason
        var policy = ManifestPolicy.standard
        var testDescription: String { uri }
    }

    static let accepted: [(String, ManifestPolicy)] = [
        ("qemu:///system", .standard),
        ("qemu+unix:///system", .standard),
        ("qemu+unix:///system?socket=/var/lib/drove/lab/node-1/run/libvirt-sock", .standard),
        ("qemu+unix:///system?socket=/run/libvirt/virtqemud-sock&mode=direct", .standard),
        ("qemu+ssh://root@node-a/system", .standard),
        ("qemu+ssh://node-a.example.org:2222/system?no_tty=1&mode=legacy&proxy=native", .standard),
        ("qemu+ssh://drove_ops@10.0.0.7/system?socket=/run/libvirt/libvirt-sock", .standard),
        ("qemu+ssh://root@[fe80::1]:22/system", .standard),
        ("qemu+ssh://root@node-a/system?keyfile=/etc/drove/keys/id_ed25519", ManifestPolicy(credentialFiles: .under(["/etc/drove/keys"]))),
        ("qemu+tls://node-a/system", .standard),
        ("qemu+tls://node-a:16514/system?pkipath=/etc/drove/keys/pki", ManifestPolicy(credentialFiles: .under(["/etc/drove/keys"]))),
        ("qemu+tcp://node-a/system", ManifestPolicy(tcp: true)),
        ("test:///default", ManifestPolicy(testDriver: true)),
        ("test:///var/lib/drove/bench/t001.xml", ManifestPolicy(testDriver: true)),
    ]

    static let refused: [Refused] = [
        // Transports and parameters that run a program.
        Refused(uri: "qemu+ext:///system?command=/tmp/marker", reason: .runsProgram),
        Refused(uri: "qemu+ext:///system", reason: .runsProgram),
        Refused(uri: "test+ext:///default?command=/tmp/marker", reason: .runsProgram, policy: ManifestPolicy(testDriver: true)),
        Refused(uri: "qemu+ssh://node-a/system?command=/tmp/marker", reason: .runsProgram),
        Refused(uri: "qemu+ssh://node-a/system?netcat=/tmp/marker", reason: .runsProgram),
        Refused(uri: "qemu+unix:///system?command=/tmp/marker", reason: .runsProgram),
        // Written so that libvirt would decode what Drove sees: percent-encoding, ';', '#', spaces.
        Refused(uri: "qemu+ssh://node-a/system?comm%61nd=/tmp/marker", reason: .character),
        Refused(uri: "qemu+ssh://node-a/system?no_tty=1;command=/tmp/marker", reason: .character),
        Refused(uri: "qemu+ssh://node-a/system#command=/tmp/marker", reason: .character),
        Refused(uri: "qemu+ssh://node-a/system?socket=/a b/libvirt-sock", reason: .character),
        Refused(uri: "qemu+ssh://node-a/system?socket=/run/x/libvirt-sock'$(touch /tmp/m)'", reason: .character),
        // ssh option injection through the host or user name.
        Refused(uri: "qemu+ssh://-oProxyCommand=touch/system", reason: .authority),
        Refused(uri: "qemu+ssh://-oProxyCommand=x@node-a/system", reason: .authority),
        // Verification turned off, credential files outside the configured directory.
        Refused(uri: "qemu+tls://node-a/system?no_verify=1", reason: .insecure),
        Refused(uri: "qemu+tls://node-a/system?tls_priority=NORMAL", reason: .insecure),
        Refused(uri: "qemu+ssh://node-a/system?known_hosts_verify=ignore", reason: .insecure),
        Refused(uri: "qemu+ssh://node-a/system?keyfile=/root/.ssh/id_rsa", reason: .credentialFile),
        Refused(uri: "qemu+ssh://node-a/system?keyfile=/etc/drove/keys/../../shadow", reason: .credentialFile,
                policy: ManifestPolicy(credentialFiles: .under(["/etc/drove/keys"]))),
        Refused(uri: "qemu+ssh://node-a/system?keyfile=/root/.ssh/id_rsa", reason: .credentialFile,
                policy: ManifestPolicy(credentialFiles: .under(["/etc/drove/keys"]))),
        Refused(uri: "qemu+tls://node-a/system?pkipath=/root/pki", reason: .credentialFile),
        Refused(uri: "qemu+ssh://node-a/system?known_hosts=/tmp/kh", reason: .credentialFile),
        // Only where the operator allows it.
        Refused(uri: "qemu+tcp://node-a/system", reason: .disabledByPolicy),
        Refused(uri: "test:///default", reason: .disabledByPolicy),
        // Other drivers, transports and paths.
        Refused(uri: "qemu+libssh2://node-a/system", reason: .transport),
        Refused(uri: "qemu+libssh://node-a/system", reason: .transport),
        Refused(uri: "qemu+foo://node-a/system", reason: .transport),
        Refused(uri: "test+unix:///default", reason: .transport, policy: ManifestPolicy(testDriver: true)),
        Refused(uri: "lxc:///system", reason: .driver),
        Refused(uri: "xen+ssh://node-a/system", reason: .driver),
        Refused(uri: "qemu:///session", reason: .path),
        Refused(uri: "qemu:///embed?root=/tmp/x", reason: .path),
        Refused(uri: "qemu+ssh://node-a/", reason: .path),
        Refused(uri: "test:///../etc/passwd", reason: .path, policy: ManifestPolicy(testDriver: true)),
        Refused(uri: "qemu://node-a/system", reason: .authority),
        Refused(uri: "qemu+unix://node-a/system", reason: .authority),
        Refused(uri: "qemu+ssh:///system", reason: .authority),
        Refused(uri: "qemu+ssh://node-a:99999/system", reason: .authority),
        // Sockets that are not libvirt's, and unknown or repeated parameters.
        Refused(uri: "qemu+unix:///system?socket=/run/docker.sock", reason: .socket),
        Refused(uri: "qemu+unix:///system?socket=relative/libvirt-sock", reason: .socket),
        Refused(uri: "qemu+unix:///system?socket=/run/../tmp/libvirt-sock", reason: .socket),
        Refused(uri: "qemu+unix:///system?name=qemu:///system", reason: .parameter),
        Refused(uri: "qemu+ssh://node-a/system?mode=direct&mode=legacy", reason: .parameter),
        Refused(uri: "qemu+ssh://node-a/system?proxy=/bin/sh", reason: .parameter),
        Refused(uri: "qemu+ssh://node-a/system?socket=", reason: .parameter),
        Refused(uri: "node-a", reason: .malformed),
    ]

    @Test("accepted forms", arguments: accepted.indices)
    func acceptedForm(_ index: Int) throws {
        let (uri, policy) = Self.accepted[index]
        let checked = try HostURI.check(uri, policy: policy).get()
        #expect(checked.text == uri)
    }

    @Test("refused forms, each for its reason", arguments: refused)
    func refusedForm(_ refused: Refused) {
        switch HostURI.check(refused.uri, policy: refused.policy) {
        case .success:
            Issue.record("\(refused.uri) was accepted")
        case let .failure(refusal):
            #expect(refusal.reason == refused.reason, "\(refused.uri): \(refusal.message)")
        }
    }

    @Test("what no configuration accepts stays refused under the most permissive policy")
    func neverAccepted() {
        for refused in Self.refused where [.runsProgram, .character, .insecure].contains(refused.reason) {
            #expect(throws: HostURI.Refusal.self, "\(refused.uri)") { try HostURI.check(refused.uri, policy: .anyConfiguration).get() }
        }
    }

    @Test("the parts of an accepted URI are read out")
    func parts() throws {
        let uri = try HostURI.check("qemu+ssh://ops@node-a:2222/system?no_tty=1", policy: .standard).get()
        #expect(uri.transport == .ssh)
        #expect(uri.user == "ops")
        #expect(uri.host == "node-a")
        #expect(uri.port == 2222)
        #expect(uri.parameters == ["no_tty": "1"])
    }

    @Test("a refused URI is a diagnostic at the uri field's line and column")
    func diagnosticPosition() {
        let yaml = "apiVersion: drove/v1\nkind: Host\nmetadata: { name: a }\nspec:\n  uri: \"qemu+ext:///system?command=/tmp/marker\"\n"
        let found = ManifestLoader(policy: .standard).check(sources: [ManifestSource(name: "m.yaml", text: yaml, baseDirectory: "/work")])
        #expect(found.manifest == nil)
        #expect(found.diagnostics.map(\.description) == [
            #"m.yaml:5:8: Host/a: spec.uri: "qemu+ext:///system?command=/tmp/marker" uses libvirt's ext transport, which runs a program named in the URI on the machine where Drove runs; it is never accepted (accepted: qemu:///system, qemu+unix:///system?socket=PATH, qemu+ssh://[user@]host/system, qemu+tls://host/system)"#,
        ])
    }
}

@Suite("Template files: only where the policy allows, links resolved")
struct TemplatePathPolicyTests {
    func templateYAML(_ path: String) -> String {
        "apiVersion: drove/v1\nkind: Template\nmetadata: { name: t }\nspec:\n  source: { path: \"\(path)\" }\n"
    }

    func check(_ path: String, base: String, rule: ManifestPolicy.FileRule) -> [Diagnostic] {
        ManifestLoader(policy: ManifestPolicy(templateFiles: rule))
            .check(sources: [ManifestSource(name: "t.yaml", text: templateYAML(path), baseDirectory: base)]).diagnostics
    }

    @Test("inside an allowed directory: accepted; outside, through .., or through a link: refused")
    func underDirectories() throws {
        try withTemporaryDirectory { dir in
            let images = dir.appendingPathComponent("images")
            try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: images.appendingPathComponent("a.qcow2"))
            try FileManager.default.createSymbolicLink(atPath: images.appendingPathComponent("shadow.qcow2").path, withDestinationPath: "/etc/shadow")
            let rule = ManifestPolicy.FileRule.under([images.path])

            #expect(check("a.qcow2", base: images.path, rule: rule).isEmpty)
            #expect(check("images/a.qcow2", base: dir.path, rule: rule).isEmpty)
            for path in ["/etc/shadow", "../a.qcow2", "shadow.qcow2", "/dev/zero"] {
                let found = check(path, base: images.path, rule: rule)
                #expect(found.count == 1, "\(path)")
                #expect(found.first?.location.line == 5 && found.first?.path == "spec.source.path", "\(path)")
                #expect(found.first?.message.contains("template files must lie in \(images.path)") == true, "\(path): \(found)")
            }
        }
    }

    @Test("nowhere: every template file refused, saying how to allow one")
    func nowhere() {
        let found = check("/srv/images/a.qcow2", base: "/srv", rule: .nowhere)
        #expect(found.map(\.message) == [#""/srv/images/a.qcow2" resolves to /srv/images/a.qcow2: this Drove reads no template files from its own disk (start it with --template-dir DIR to allow a directory)"#])
        #expect(found.map(\.code) == [.refusedByPolicy])
    }
}
