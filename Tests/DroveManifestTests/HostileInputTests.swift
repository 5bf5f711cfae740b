import DroveManifest
import Foundation
import Testing

/// Each test only checks that the input is refused with a clear message: no timing asserts.
@Suite("Hostile input is refused")
struct HostileInputTests {
    @Test("the billion-laughs alias bomb")
    func aliasBomb() {
        let bomb = """
            a: &a ["x","x","x","x","x","x","x","x","x"]
            b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
            c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
            d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
            e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
            f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
            g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
            h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
            i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
            """
        let found = diagnostics(bomb)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("m.yaml:2:8: <unknown kind>: an alias inside an anchored collection is not allowed") == true)
    }

    @Test("alias chains through block collections and across documents", arguments: [
        ("a: &a\n- x\nb: &b\n- *a\n", "m.yaml:4:3:"),
        ("a: &a\n  - x\nb: &b\n  k: *a\n", "m.yaml:4:6:"),
        ("&a\nk: x\n--- &b\nk: *a\n", "m.yaml:4:4:"),
        ("- &a\n  - x\n- &b\n  - *a\n", "m.yaml:4:5:"),
    ])
    func aliasChains(yaml: String, position: String) {
        let found = diagnostics(yaml)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("\(position) <unknown kind>: an alias inside an anchored collection is not allowed") == true)
    }

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

    @Test("a document expanding past 10,000 nodes through aliases")
    func wideExpansion() {
        let list = "[" + Array(repeating: "1", count: 200).joined(separator: ",") + "]"
        let yaml = "x: &x \(list)\ny: [" + Array(repeating: "*x", count: 60).joined(separator: ",") + "]\n"
        #expect(diagnostics(yaml) == [
            "m.yaml:1:1: <unknown kind>: document has more than 10000 nodes once aliases are expanded; refusing it",
        ])
    }

    @Test("a document of more than 10,000 nodes is refused before composing")
    func tooManyNodes() {
        let yaml = "a: [" + Array(repeating: "1", count: 20_000).joined(separator: ",") + "]\n"
        let found = diagnostics(yaml)
        #expect(found.count == 1)
        #expect(found.first?.hasSuffix("<unknown kind>: document has more than 10000 nodes; refusing it") == true)
    }

    @Test("keys that could stand for huge trees", arguments: [
        ("a: &a [1, 2]\n*a : 1\n", "m.yaml:2:1: <unknown kind>: an alias used as a mapping key; keys must be plain strings"),
        ("{*a : 1}\n", "m.yaml:1:2: <unknown kind>: an alias used as a mapping key; keys must be plain strings"),
        ("[1, 2]: x\n", "m.yaml:1:6: <unknown kind>: a list or mapping used as a mapping key; keys must be plain strings"),
        ("? a\n: 1\n", #"m.yaml:1:1: <unknown kind>: complex mapping keys ("? ") are not supported; keys must be plain strings"#),
    ])
    func dangerousKeys(yaml: String, expected: String) {
        #expect(diagnostics(yaml) == [expected])
    }

    @Test("nesting deeper than 64 levels", arguments: [
        "a: " + String(repeating: "[", count: 100_000) + "\n",
        (0..<100).map { String(repeating: " ", count: $0) + "k\($0):\n" }.joined(),
        String(repeating: "- ", count: 100) + "x\n",
        String(repeating: "{a: ", count: 70) + "1" + String(repeating: "}", count: 70) + "\n",
    ])
    func deepNesting(yaml: String) {
        let found = diagnostics(yaml)
        #expect(found.count == 1)
        #expect(found.first?.hasSuffix("<unknown kind>: nesting deeper than 64 levels; refusing to parse") == true)
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

    @Test("in-memory text over 4 MiB is refused too")
    func oversizedSource() {
        let source = ManifestSource(name: "<stdin>", bytes: Array(repeating: UInt8(ascii: "#"), count: (4 << 20) + 1), baseDirectory: "/")
        #expect(ManifestLoader(policy: testPolicy).check(sources: [source]).diagnostics.map(\.message) == [
            "file is 4.0 MiB, over the 4 MiB limit for one manifest file; refusing it",
        ])
    }
}
