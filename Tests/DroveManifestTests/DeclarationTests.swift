import DroveManifest
import Foundation
import Testing

/// The declarations of one YAML text named `m.yaml`.
func declarations(_ yaml: String) -> Declarations {
    ManifestLoader.declarations(in: ManifestFiles(entries: [.read(ManifestSource(name: "m.yaml", text: yaml, baseDirectory: "/work"))]))
}

@Suite("Reading what manifests declare by kind and name alone")
struct DeclarationTests {
    @Test("each document's kind and name, where its document starts, and nothing else checked")
    func kindsAndNames() {
        let yaml = """
            apiVersion: drove/v9
            kind: VMSet
            metadata: { name: web, labels: { not a label: x } }
            spec: { replicas: many, template: nowhere, color: red }
            ---
            kind: Host
            metadata:
              name: node-a
            ---
            kind: VMSet
            metadata: { name: web }
            """
        let found = declarations(yaml)
        #expect(found.diagnostics.isEmpty)
        #expect(found.objects == [
            DeclaredObject(reference: ObjectReference(kind: .vmSet, name: "web"), location: SourceLocation(file: "m.yaml", line: 1, column: 1)),
            DeclaredObject(reference: ObjectReference(kind: .host, name: "node-a"), location: SourceLocation(file: "m.yaml", line: 6, column: 1)),
            DeclaredObject(reference: ObjectReference(kind: .vmSet, name: "web"), location: SourceLocation(file: "m.yaml", line: 10, column: 1)),
        ])
        // The loader, by contrast, refuses the first document for its spec and its template.
        #expect(!diagnostics(yaml).isEmpty)
    }

    @Test("documents without a valid kind or name are errors, each with its position and code")
    func missingOrInvalid() {
        let yaml = """
            kind: VmSet
            metadata: { name: a }
            ---
            metadata: { name: b }
            ---
            kind: Host
            metadata: { name: Node_1 }
            ---
            kind: Template
            spec: {}
            ---
            - a list
            ---
            kind: Host
            metadata: { name: fine }
            """
        let found = declarations(yaml)
        #expect(found.diagnostics.map(\.description) == [
            #"m.yaml:1:7: VmSet/a: kind: unknown kind "VmSet" (did you mean "VMSet"?)"#,
            "m.yaml:4:1: <unknown kind>/b: kind: required field is missing",
            #"m.yaml:7:19: Host/Node_1: metadata.name: "Node_1" is not a valid name: must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"#,
            "m.yaml:9:1: Template/<unnamed>: metadata: required field is missing",
            "m.yaml:12:1: <unknown kind>: expected a mapping with apiVersion, kind, metadata and spec, got a list",
        ])
        #expect(found.diagnostics.map(\.code) == [.unknownKind, .missingField, .invalidName, .missingField, .wrongType])
        #expect(found.objects.map(\.reference) == [ObjectReference(kind: .host, name: "fine")])
    }

    @Test("the loader's limits hold: a too-deep document, a syntax error, a file over 4 MiB")
    func limits() throws {
        let deep = declarations("kind: Host\nmetadata: { name: a }\nx: " + String(repeating: "[", count: 65) + String(repeating: "]", count: 65) + "\n")
        #expect(deep.objects.isEmpty)
        #expect(deep.diagnostics.map(\.code) == [.tooDeep])

        let broken = declarations("kind: Host\nmetadata: { name: a }\n---\nkind: Host\nmetadata: { name: b\n")
        #expect(broken.objects.map(\.reference) == [ObjectReference(kind: .host, name: "a")])
        #expect(broken.diagnostics.map(\.code) == [.syntax])

        try withTemporaryDirectory { dir in
            try Data(repeating: UInt8(ascii: "#"), count: (4 << 20) + 1).write(to: dir.appendingPathComponent("big.yaml"))
            try write("kind: VMSet\nmetadata: { name: web }\n", to: "web.yaml", in: dir)
            let found = ManifestLoader.declarations(in: ManifestFiles.read(["big.yaml", "web.yaml"], workingDirectory: dir.path))
            #expect(found.diagnostics.map(\.description) == [
                "big.yaml:1:1: <unknown kind>: file is 4.0 MiB, over the 4 MiB limit for one manifest file; refusing it",
            ])
            #expect(found.objects.map(\.reference) == [ObjectReference(kind: .vmSet, name: "web")])
        }
    }
}
