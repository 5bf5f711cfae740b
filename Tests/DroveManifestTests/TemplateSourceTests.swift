import DroveManifest
import Testing

@Suite("Template sources: a file or a blob, and visibility")
struct TemplateSourceTests {
    static let digest = "sha256:" + String(repeating: "ab", count: 32)

    static func template(_ source: String, extra: String = "") -> String {
        """
        apiVersion: drove/v1
        kind: Template
        metadata: { name: alpine }
        spec:
          source: \(source)\(extra)
        """
    }

    static func check(_ yaml: String, store: String?) -> LoadResult {
        ManifestLoader(workingDirectory: "/work", policy: ManifestPolicy(templateStore: store))
            .check(sources: [ManifestSource(name: "m.yaml", text: yaml, baseDirectory: "/work/manifests")])
    }

    @Test("a blob resolves to its file in the template store and keeps its digest")
    func blobResolves() throws {
        let result = Self.check(Self.template("{ blob: \"\(Self.digest)\" }"), store: "/var/lib/drove/state/templates")
        let template = try #require(result.manifest?.templates.first)
        #expect(template.spec.source == TemplateSource(
            path: "blob:" + Self.digest, resolvedPath: "/var/lib/drove/state/templates/sha256/" + String(repeating: "ab", count: 32),
            blobDigest: Self.digest))
        #expect(template.spec.visibility == .private)
    }

    @Test("a Drove without a template store refuses a blob, saying so")
    func blobWithoutStore() {
        let found = Self.check(Self.template("{ blob: \"\(Self.digest)\" }"), store: nil).diagnostics
        #expect(found.map(\.code) == [.refusedByPolicy])
        #expect(found.first?.description.hasPrefix("m.yaml:5:19: Template/alpine: spec.source.blob: this Drove has no template store") == true)
    }

    @Test("a blob that is not sha256 and 64 lowercase hex digits is refused")
    func badDigests() {
        for bad in ["sha256:abc", "sha512:" + String(repeating: "a", count: 64), "sha256:" + String(repeating: "A", count: 64), String(repeating: "a", count: 64)] {
            let found = Self.check(Self.template("{ blob: \"\(bad)\" }"), store: "/store").diagnostics
            #expect(found.map(\.code) == [.invalidValue], "\(bad)")
            #expect(found.first?.path == "spec.source.blob", "\(bad)")
        }
    }

    @Test("a source names exactly one of path and blob")
    func exactlyOne() {
        let both = Self.check(Self.template("{ path: a.qcow2, blob: \"\(Self.digest)\" }"), store: "/store").diagnostics
        #expect(both.map(\.description) == ["m.yaml:5:11: Template/alpine: spec.source: name only one of path or blob"])
        let neither = Self.check(Self.template("{}"), store: "/store").diagnostics
        #expect(neither.map(\.code) == [.missingField])
        #expect(neither.first?.message == "name one of path (a file) or blob (a pushed image)")
    }

    @Test("visibility is private or shared")
    func visibility() throws {
        let shared = Self.check(Self.template("{ path: a.qcow2 }", extra: "\n  visibility: shared"), store: nil)
        #expect(try #require(shared.manifest?.templates.first).spec.visibility == .shared)
        let wrong = Self.check(Self.template("{ path: a.qcow2 }", extra: "\n  visibility: public"), store: nil).diagnostics
        #expect(wrong.map(\.path) == ["spec.visibility"])
    }
}
