import DroveManifest
@testable import DroveStore
import Foundation
import Synchronization
import DroveTestSupport
import Logging
import PostgresNIO
import Testing

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

/// The engines every store test runs on: the same tests, the same promises.
enum TestEngine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }
}

/// Where one test's store lives, and a way to open it (again, after a close).
struct StorePlace {
    let open: (StoreOptions) async throws -> Store
}

/// A fresh place for a store on `engine`, removed after `body`: a file in a fresh directory,
/// or a fresh database on the test PostgreSQL server (`scripts/postgres.sh`, started by
/// `scripts/test.sh`). Without that server the PostgreSQL runs fail: they never skip.
func withStorePlace<T>(_ engine: TestEngine, _ body: (StorePlace) async throws -> T) async throws -> T {
    switch engine {
    case .sqlite:
        return try await withTemporaryDirectory { directory in
            try await body(StorePlace { options in try Store(path: directory + "/state/drove.sqlite", options: options) })
        }
    case .postgres:
        return try await TestDatabase.with { location in
            try await body(StorePlace { options in try await Store.open(.postgres(location), options: options) })
        }
    }
}

/// Databases made and dropped on the test server, one per test.
enum TestDatabase {
    static func with<T>(_ body: (PostgresLocation) async throws -> T) async throws -> T {
        guard let url = TestPostgres.url else {
            throw TestPostgresMissing()
        }
        let server = try PostgresLocation(url: url)
        let name = "drove_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await admin(server) { try await $0.query("CREATE DATABASE \(unescaped: name)", logger: logger) }
        do {
            let result = try await body(server.database(name))
            try await drop(name, on: server)
            return result
        } catch {
            try? await drop(name, on: server)
            throw error
        }
    }

    private static func drop(_ name: String, on server: PostgresLocation) async throws {
        try await admin(server) { try await $0.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger) }
    }

    private static let logger = Logger(label: "drove.tests.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    private static func admin(_ server: PostgresLocation, _ body: (PostgresConnection) async throws -> Void) async throws {
        do {
            let connection = try await PostgresConnection.connect(configuration: try PostgresEngine.configuration(server), id: 0, logger: logger)
            do {
                try await body(connection)
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        } catch let error as PSQLError {
            // Its description hides the server's words; the test server's are fit to show.
            throw TestDatabaseError(description: String(reflecting: error))
        }
    }
}

struct TestDatabaseError: Error, CustomStringConvertible {
    var description: String
}

struct TestPostgresMissing: Error, CustomStringConvertible {
    var description: String {
        "no test PostgreSQL server: run `bash scripts/postgres.sh start /var/lib/drove/postgres-test` and export "
            + "DROVE_TEST_POSTGRES_URL=$(cat /var/lib/drove/postgres-test/url) (scripts/test.sh does both)"
    }
}

/// Opens a store on `engine` in a fresh place, runs `body`, then closes it and removes the place.
func withStore<T>(
    _ engine: TestEngine = .sqlite, retention: EventRetention = EventRetention(), changeBufferSize: Int = 1024, clock: TestClock = TestClock(),
    _ body: (Store, String) async throws -> T
) async throws -> T {
    try await withStorePlace(engine) { place in
        let store = try await place.open(StoreOptions(eventRetention: retention, changeBufferSize: changeBufferSize, clock: clock.function))
        do {
            let result = try await body(store, store.path)
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
