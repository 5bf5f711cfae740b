import DroveManifest
import Foundation
import Testing

func host(_ name: String, rack: String = "a") -> String {
    "apiVersion: drove/v1\nkind: Host\nmetadata: { name: \(name), labels: { rack: \(rack) } }\nspec: { uri: \"test:///default\" }\n"
}

@Suite("Loading files and directories")
struct LoaderTests {
    @Test("a directory loads every .yaml and .yml below it, sorted by path, hidden ones skipped")
    func directoryOrder() throws {
        try withTemporaryDirectory { dir in
            try write(host("b-host"), to: "b.yaml", in: dir)
            try write(host("a-host"), to: "a.yml", in: dir)
            try write(host("nested"), to: "sub/c.yaml", in: dir)
            try write(host("z-host"), to: "z.yaml", in: dir)
            try write("not: yaml we read", to: "notes.txt", in: dir)
            try write(host("hidden"), to: ".hidden.yaml", in: dir)
            try write(host("in-git"), to: ".git/config.yaml", in: dir)
            let loader = ManifestLoader(workingDirectory: dir.deletingLastPathComponent().path, policy: testPolicy)
            let result = loader.check(paths: [dir.lastPathComponent])
            let name = dir.lastPathComponent
            #expect(result.files == ["\(name)/a.yml", "\(name)/b.yaml", "\(name)/sub/c.yaml", "\(name)/z.yaml"])
            #expect(result.diagnostics.isEmpty)
            #expect(result.manifest?.hosts.map(\.metadata.name) == ["a-host", "b-host", "nested", "z-host"])
        }
    }

    @Test("an explicit file is read whatever its extension, and paths keep the order given")
    func explicitFiles() throws {
        try withTemporaryDirectory { dir in
            try write(host("second"), to: "two.txt", in: dir)
            try write(host("first"), to: "one.yaml", in: dir)
            let manifest = try ManifestLoader(policy: testPolicy).load(paths: [dir.appendingPathComponent("two.txt").path, dir.appendingPathComponent("one.yaml").path])
            #expect(manifest.hosts.map(\.metadata.name) == ["second", "first"])
        }
    }

    @Test("duplicate names within a kind are reported across files; the same name in another kind is fine")
    func duplicateNamesAcrossFiles() throws {
        try withTemporaryDirectory { dir in
            try write(host("node-1"), to: "a.yaml", in: dir)
            try write(host("node-2") + "---\n" + host("node-1", rack: "b"), to: "b.yaml", in: dir)
            try write("apiVersion: drove/v1\nkind: Template\nmetadata: { name: node-1 }\nspec: { source: { path: x.qcow2 } }\n", to: "c.yaml", in: dir)
            let result = ManifestLoader(workingDirectory: dir.path, policy: testPolicy).check(paths: ["."])
            #expect(result.diagnostics.map(\.description) == [
                #"./b.yaml:8:19: Host/node-1: metadata.name: Host "node-1" is already declared at ./a.yaml:3:19"#,
            ])
            #expect(result.manifest == nil)
        }
    }

    @Test("a template declared in another file resolves; one declared nowhere does not")
    func referencesAcrossFiles() throws {
        try withTemporaryDirectory { dir in
            try write("apiVersion: drove/v1\nkind: VMSet\nmetadata: { name: web }\nspec: { replicas: 1, template: tiny }\n", to: "a-vmsets.yaml", in: dir)
            try write(tinyTemplate, to: "b-templates.yaml", in: dir)
            #expect(ManifestLoader(policy: testPolicy).check(paths: [dir.path]).diagnostics.isEmpty)
            try FileManager.default.removeItem(at: dir.appendingPathComponent("b-templates.yaml"))
            #expect(ManifestLoader(policy: testPolicy).check(paths: [dir.path]).diagnostics.map(\.message) == [
                #"Template "tiny" is not declared (no Template is declared)"#,
            ])
        }
    }

    @Test("a file that cannot be read to its end suppresses dangling-reference errors, not its own")
    func syntaxErrorSuppressesReferences() throws {
        try withTemporaryDirectory { dir in
            try write("apiVersion: drove/v1\nkind: VMSet\nmetadata: { name: web }\nspec: { replicas: 1, template: tiny }\n", to: "a.yaml", in: dir)
            try write("apiVersion: [\n", to: "b.yaml", in: dir)
            let result = ManifestLoader(workingDirectory: dir.path, policy: testPolicy).check(paths: ["a.yaml", "b.yaml"])
            #expect(result.diagnostics.count == 1)
            #expect(result.diagnostics.first?.location.file == "b.yaml")
            #expect(result.diagnostics.first?.message.hasPrefix("YAML syntax error:") == true)
        }
    }

    @Test("a missing path and an empty directory are errors")
    func missingPaths() throws {
        try withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("empty"), withIntermediateDirectories: true)
            let result = ManifestLoader(workingDirectory: dir.path, policy: testPolicy).check(paths: ["nope.yaml", "empty"])
            #expect(result.diagnostics.map(\.description) == [
                "nope.yaml:1:1: <unknown kind>: no such file or directory",
                "empty:1:1: <unknown kind>: no .yaml or .yml files in this directory",
            ])
            #expect(result.diagnostics.map(\.code) == [.unreadable, .unreadable])
        }
    }

    @Test("reading paths expands a directory to its manifests in order, each based in its own directory")
    func readingDirectory() throws {
        try withTemporaryDirectory { dir in
            try write(host("b-host"), to: "b.yaml", in: dir)
            try write(host("nested"), to: "sub/a.yml", in: dir)
            try write("not: yaml we read", to: "notes.txt", in: dir)
            try write(host("hidden"), to: ".hidden.yaml", in: dir)
            let name = dir.lastPathComponent
            let files = ManifestFiles.read([name, "missing.yaml"], workingDirectory: dir.deletingLastPathComponent().path)
            #expect(files.sources.map(\.name) == ["\(name)/b.yaml", "\(name)/sub/a.yml"])
            #expect(files.sources.map(\.baseDirectory) == [dir.path, dir.appendingPathComponent("sub").path])
            #expect(files.sources.map { String(decoding: $0.bytes, as: UTF8.self) } == [host("b-host"), host("nested")])
            #expect(files.diagnostics.map(\.description) == ["missing.yaml:1:1: <unknown kind>: no such file or directory"])
            #expect(files.diagnostics.map(\.code) == [.unreadable])
        }
    }

    @Test("reading paths refuses a file over 4 MiB without reading it, and reads the others")
    func readingTooLarge() throws {
        try withTemporaryDirectory { dir in
            try Data(repeating: UInt8(ascii: "#"), count: (4 << 20) + 1).write(to: dir.appendingPathComponent("big.yaml"))
            try write(host("small"), to: "small.yaml", in: dir)
            let files = ManifestFiles.read(["big.yaml", "small.yaml"], workingDirectory: dir.path)
            #expect(files.sources.map(\.name) == ["small.yaml"])
            #expect(files.diagnostics.map(\.description) == [
                "big.yaml:1:1: <unknown kind>: file is 4.0 MiB, over the 4 MiB limit for one manifest file; refusing it",
            ])
            #expect(files.diagnostics.map(\.code) == [.tooLarge])
            // Checked, the refusal stands in the file's place.
            let result = ManifestLoader(policy: testPolicy).check(files)
            #expect(result.files == ["big.yaml", "small.yaml"])
            #expect(result.diagnostics.map(\.code) == [.tooLarge])
        }
    }

    @Test("text from a source names it in diagnostics and resolves templates against its base directory")
    func sources() throws {
        let source = ManifestSource(
            name: ManifestLoader.standardInputName,
            text: "apiVersion: drove/v1\nkind: Template\nmetadata: { name: t }\nspec: { source: { path: img/t.qcow2 }, format: vmdk }\n",
            baseDirectory: "/srv/manifests")
        #expect(ManifestLoader(policy: testPolicy).check(sources: [source]).diagnostics.map(\.description) == [
            #"<stdin>:4:48: Template/t: spec.format: "vmdk" is not one of qcow2, raw"#,
        ])
        var fixed = source
        fixed.bytes = Array(String(decoding: source.bytes, as: UTF8.self).replacingOccurrences(of: "vmdk", with: "raw").utf8)
        let manifest = try ManifestLoader(policy: testPolicy).load(sources: [fixed])
        #expect(manifest.templates.first?.spec.source.resolvedPath == "/srv/manifests/img/t.qcow2")
    }

    @Test("text that is not UTF-8 is refused with its position")
    func notUTF8() {
        let source = ManifestSource(name: "bin.yaml", bytes: Array("a: 1\nb: ".utf8) + [0xFF, 0xFE], baseDirectory: "/")
        #expect(ManifestLoader(policy: testPolicy).check(sources: [source]).diagnostics.map(\.description) == [
            "bin.yaml:2:4: <unknown kind>: not valid UTF-8 (manifests must be UTF-8)",
        ])
    }
}
