import DroveAPI
import DroveClient
import DroveManifest
import DrovePlan
import DroveServer
import DroveStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Testing

/// A controller that does nothing: these tests exercise the client and the API, not reconciling.
struct IdleController: ControllerHandle {
    func enqueue(_ reference: ObjectReference) async {}
    func plan(for manifest: Manifest) async throws -> Plan { Plan() }
    func vms() async -> [VMSummary] { [] }
    func consoleLog(vm: String, from offset: UInt64) async throws -> APIConsoleLog? { nil }
    func requestSync(gitSource name: String) async throws -> Date? { nil }
}

/// The API of `drove serve`, running for real on a free loopback port over a fresh store that
/// wants a token. `body` gets a client holding the token, and the store, to play the controller.
func withServer<T: Sendable>(_ body: @escaping @Sendable (APIClient, Store) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drove-client-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let token = "client-test-token"
    try (token + "\n").write(toFile: directory + "/token", atomically: true, encoding: .utf8)
    let store = try Store(path: directory + "/drove.sqlite")
    defer { try? store.close() }
    // The template files the manifests name are never read (the controller is idle).
    let configuration = ServerConfiguration(host: "127.0.0.1", port: 0, tokenFile: directory + "/token",
                                            manifestPolicy: ManifestPolicy(templateFiles: .anywhere))
    let application = try buildApplication(
        configuration: configuration, store: store, controller: IdleController(), registry: PrometheusCollectorRegistry(),
        logger: Logger(label: "drove.client.tests", factory: { _ in SwiftLogNoOpLogHandler() }))
    return try await application.test(.live) { client in
        let port = try #require(client.port)
        return try await body(APIClient(server: URL(string: "http://127.0.0.1:\(port)")!, token: token), store)
    }
}

/// The `ClientError` `body` throws, or nil when it succeeds (any other error is an issue).
func clientError<T>(_ body: () async throws -> T) async -> ClientError? {
    do {
        _ = try await body()
        return nil
    } catch let error as ClientError {
        return error
    } catch {
        Issue.record("expected a ClientError, got \(error)")
        return nil
    }
}

/// One manifest file as the CLI sends it.
func source(_ name: String, _ text: String) -> APISource {
    APISource(name: name, text: text, baseDirectory: "/srv/manifests")
}

let templateYAML = """
    apiVersion: drove/v1
    kind: Template
    metadata: { name: alpine }
    spec: { source: { path: images/alpine.qcow2 } }
    """

func vmSetYAML(replicas: Int = 3) -> String {
    """
    apiVersion: drove/v1
    kind: VMSet
    metadata: { name: web }
    spec: { replicas: \(replicas), template: alpine }
    """
}

let web = ObjectReference(kind: .vmSet, name: "web")
