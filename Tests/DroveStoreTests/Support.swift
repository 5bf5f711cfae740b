import DroveManifest
@testable import DroveStore
import Foundation
import Synchronization

/// A fresh directory under the system's temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("drove-store-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try await body(directory)
}

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_700_000_000))

    var date: Date { now.withLock { $0 } }

    func advance(seconds: TimeInterval) {
        now.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    var function: @Sendable () -> Date { { [self] in date } }
}

/// Opens a store in a fresh directory, runs `body`, then closes it and removes the directory.
func withStore<T>(
    retention: EventRetention = EventRetention(), changeBufferSize: Int = 1024, clock: TestClock = TestClock(),
    _ body: (Store, String) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        let path = directory + "/state/drove.sqlite"
        let store = try Store(path: path, options: StoreOptions(
            eventRetention: retention, changeBufferSize: changeBufferSize, clock: clock.function))
        do {
            let result = try await body(store, path)
            try store.close()
            return result
        } catch {
            try? store.close()
            throw error
        }
    }
}

let manifestDirectory = "/srv/manifests"

/// Loads `yaml` as one file named `name` and pairs each object with its document.
func applied(_ yaml: String, name: String = "/srv/manifests/fleet.yaml") throws -> [AppliedObject] {
    let source = ManifestSource(name: name, text: yaml, baseDirectory: manifestDirectory)
    let manifest = try ManifestLoader().load(sources: [source])
    return try AppliedObject.objects(in: manifest, sources: [source])
}

func loaded(_ yaml: String) throws -> Manifest {
    try ManifestLoader().load(sources: [ManifestSource(name: "fleet.yaml", text: yaml, baseDirectory: manifestDirectory)])
}

let hostYAML = """
    apiVersion: drove/v1
    kind: Host
    metadata: { name: node-a, labels: { rack: a } }
    spec: { uri: "qemu+ssh://root@node-a/system" }
    """

let templateYAML = """
    apiVersion: drove/v1
    kind: Template
    metadata: { name: alpine }
    spec: { source: { path: images/alpine.qcow2 } }
    """

func vmSetYAML(_ name: String = "web", replicas: Int = 3, template: String = "alpine", labels: String = "{}") -> String {
    """
    apiVersion: drove/v1
    kind: VMSet
    metadata: { name: \(name), labels: \(labels) }
    spec: { replicas: \(replicas), template: \(template) }
    """
}

/// A host, a template and a VM set, as three documents of one file.
func fleetYAML(replicas: Int = 3, labels: String = "{}") -> String {
    [hostYAML, templateYAML, vmSetYAML(replicas: replicas, labels: labels)].joined(separator: "\n---\n")
}

let web = ObjectReference(kind: .vmSet, name: "web")
let alpine = ObjectReference(kind: .template, name: "alpine")
let nodeA = ObjectReference(kind: .host, name: "node-a")
