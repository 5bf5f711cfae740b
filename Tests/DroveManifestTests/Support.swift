import DroveManifest
import Foundation
import Testing

/// A fresh directory under the system's temporary directory, removed when `body` returns.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("drove-manifest-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

/// Writes `text` to `relative` below `directory`, creating folders on the way.
func write(_ text: String, to relative: String, in directory: URL) throws {
    let url = directory.appendingPathComponent(relative)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
}

/// The tests' manifests use libvirt's test driver, which the default policy refuses.
let testPolicy = ManifestPolicy(testDriver: true)

/// The rendered diagnostics of one YAML text named `name`.
func diagnostics(_ yaml: String, name: String = "m.yaml") -> [String] {
    check(yaml, name: name).diagnostics.map(\.description)
}

/// The codes of the diagnostics of one YAML text, in order.
func codes(_ yaml: String) -> [DiagnosticCode] {
    check(yaml, name: "m.yaml").diagnostics.map(\.code)
}

private func check(_ yaml: String, name: String) -> LoadResult {
    ManifestLoader(workingDirectory: "/work", policy: testPolicy).check(sources: [ManifestSource(name: name, text: yaml, baseDirectory: "/work/manifests")])
}

/// Loads one YAML text that must be valid.
func load(_ yaml: String) throws -> Manifest {
    try ManifestLoader(workingDirectory: "/work", policy: testPolicy).load(yaml: yaml, name: "m.yaml", baseDirectory: "/work/manifests")
}

/// The repository root, found from this file (through the symlinks of a side package).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A Template named `tiny`, so that VM sets in a test have something to refer to.
let tinyTemplate = """
    ---
    apiVersion: drove/v1
    kind: Template
    metadata: { name: tiny }
    spec: { source: { path: tiny.qcow2 } }

    """
