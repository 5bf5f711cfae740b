import DroveManifest
import Foundation
import Testing

/// What the hostile corpus (HostileCorpusTests) cannot say in one file: the limits' boundaries,
/// files on disk, symbolic links. Each test checks the input is refused with a clear message.
@Suite("Hostile input is refused")
struct HostileInputTests {
    @Test("aliases of anchored nodes without aliases are allowed")
    func plainAliasesAllowed() throws {
        let manifest = try load("""
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: a }
            spec:
              replicas: 1
              template: tiny
              resources: &small
                vcpus: 2
                memory: 64Mi
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: b, labels: &labels { app: b } }
            spec: { replicas: 1, template: tiny, resources: *small, placement: { hostSelector: *labels } }

            """ + tinyTemplate)
        #expect(manifest.vmSets.map(\.spec.resources) == [Resources(vcpus: 2, memory: 64 << 20), Resources(vcpus: 2, memory: 64 << 20)])
        #expect(manifest.vmSets.last?.spec.placement.hostSelector == LabelSelector(["app": "b"]))
    }

    @Test("brackets inside quotes, comments and block scalars do not count as nesting")
    func bracketsInText() {
        let brackets = String(repeating: "[", count: 80)
        let yaml = "a: \"\(brackets)\"\nb: '\(brackets)'\n# \(brackets)\nc: |\n  \(brackets)\n  *x\nd: e\(brackets)\n"
        #expect(diagnostics(yaml).first == #"m.yaml:1:1: <unknown kind>: a: unknown field "a" (allowed: apiVersion, kind, metadata, spec)"#)
    }

    @Test("a file over 4 MiB is refused before it is read")
    func oversizedFile() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("big.yaml")
            try Data(repeating: UInt8(ascii: "#"), count: 5 << 20).write(to: url)
            let result = ManifestLoader(policy: testPolicy).check(paths: [url.path])
            #expect(result.diagnostics.map(\.description) == [
                "\(url.path):1:1: <unknown kind>: file is 5.0 MiB, over the 4 MiB limit for one manifest file; refusing it",
            ])
        }
    }

    @Test("a file of 1,000 documents is read; one more is refused at the document that goes over")
    func documentLimit() {
        let document = "---\napiVersion: drove/v1\nkind: Host\nmetadata: { name: node-NAME }\nspec: { uri: \"test:///default\" }\n"
        let thousand = (0..<1000).map { document.replacingOccurrences(of: "NAME", with: "\($0)") }.joined()
        #expect(diagnostics(thousand) == [])
        let over = thousand + "...\n# comments and an end marker start no document\n---\nkind: Host\n"
        #expect(diagnostics(over) == ["m.yaml:5003:1: <unknown kind>: file has more than 1000 documents; refusing it (split it into several files)"])
        // Content after an end marker starts a document without "---".
        let implicit = String(repeating: "a: 1\n...\n", count: 1000) + "b: 1\n"
        #expect(diagnostics(implicit) == ["m.yaml:2001:1: <unknown kind>: file has more than 1000 documents; refusing it (split it into several files)"])
    }

    @Test("a file over 100,000 nodes is refused, though each document is within its own limit")
    func fileNodeLimit() {
        // 9,002 nodes a document ("a", the list, 9,000 scalars): the 100,001st is the 977th
        // scalar of the 12th document, on line 24, at column 5 + 2 * 976.
        let document = "---\na: [" + Array(repeating: "1", count: 9_000).joined(separator: ",") + "]\n"
        #expect(!codes(String(repeating: document, count: 11)).contains(.tooLarge))
        #expect(diagnostics(String(repeating: document, count: 12)) == [
            "m.yaml:24:1957: <unknown kind>: file has more than 100000 nodes; refusing it (split it into several files)",
        ])
    }

    @Test("a template path through a symbolic link that leads out of the template directory is refused")
    func symlinkOutOfTemplateDirectory() throws {
        try withTemporaryDirectory { dir in
            let templates = dir.appendingPathComponent("templates")
            try FileManager.default.createDirectory(at: templates, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: templates.appendingPathComponent("escape.qcow2").path, withDestinationPath: "/etc/passwd")
            try write("""
                apiVersion: drove/v1
                kind: Template
                metadata: { name: escape }
                spec: { source: { path: templates/escape.qcow2 } }

                """, to: "escape.yaml", in: dir)
            let policy = ManifestPolicy(templateFiles: .under([templates.path]))
            let found = ManifestLoader(workingDirectory: dir.path, policy: policy).check(paths: [dir.appendingPathComponent("escape.yaml").path])
            #expect(found.manifest == nil)
            #expect(found.diagnostics.map(\.code) == [.refusedByPolicy])
            #expect(found.diagnostics.first?.description.hasPrefix("\(dir.path)/escape.yaml:4:25: Template/escape: spec.source.path:") == true,
                    "\(found.diagnostics)")
            // The same file named directly inside the directory is accepted: the link is what is refused.
            try Data().write(to: templates.appendingPathComponent("plain.qcow2"))
            let plain = ManifestLoader(workingDirectory: dir.path, policy: policy)
                .check(sources: [ManifestSource(name: "plain.yaml", text: "apiVersion: drove/v1\nkind: Template\nmetadata: { name: plain }\nspec: { source: { path: templates/plain.qcow2 } }\n", baseDirectory: dir.path)])
            #expect(plain.diagnostics == [])
        }
    }
}
