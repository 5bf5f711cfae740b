import DroveAPI
import DroveManifest
import DrovePlan
import DroveServer
import DroveStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Synchronization
import Testing

/// The controller, as the API sees it: records what it is asked and answers what it is told.
final class FakeController: ControllerHandle {
    private let enqueuedKeys = Mutex<[ObjectReference]>([])
    private let planned = Mutex<[Manifest]>([])
    let plan: Plan
    let vmList: [VMSummary]

    init(plan: Plan = Plan(), vms: [VMSummary] = []) {
        self.plan = plan
        self.vmList = vms
    }

    var enqueued: [ObjectReference] { enqueuedKeys.withLock { $0 } }
    var plannedManifests: [Manifest] { planned.withLock { $0 } }
    func resetEnqueued() { enqueuedKeys.withLock { $0 = [] } }

    func enqueue(_ reference: ObjectReference) async {
        enqueuedKeys.withLock { $0.append(reference) }
    }

    func plan(for manifest: Manifest) async throws -> Plan {
        planned.withLock { $0.append(manifest) }
        return plan
    }

    func vms() async -> [VMSummary] { vmList }

    /// Console logs by VM; a VM without one is unknown. `unreadableLogs` fail as a host would.
    let consoleLogs = Mutex<[String: [UInt8]]>([:])
    let unreadableLogs = Mutex<Set<String>>([])

    func consoleLog(vm: String, from offset: UInt64) async throws -> APIConsoleLog? {
        if unreadableLogs.withLock({ $0.contains(vm) }) { throw CocoaError(.fileReadUnknown) }
        guard let log = consoleLogs.withLock({ $0[vm] }) else { return nil }
        let bytes = offset < UInt64(log.count) ? Array(log[Int(offset)...]) : []
        return APIConsoleLog(bytes: bytes, nextOffset: offset + UInt64(bytes.count))
    }

    /// Sources a sync was asked for, in order; every request is answered at `syncTime`.
    private let syncs = Mutex<[String]>([])
    let syncTime = Date(timeIntervalSince1970: 1_800_000_000)
    var syncRequests: [String] { syncs.withLock { $0 } }

    func requestSync(gitSource name: String) async throws -> Date? {
        syncs.withLock { $0.append(name) }
        return syncTime
    }
}

/// One test's world: a real store in a fresh directory, a token file, a fake controller, a
/// registry, and the application built on them. Everything is removed afterwards.
struct Fixture: Sendable {
    static let token = "s3cret-token-for-tests"

    let directory: String
    let store: Store
    let controller: FakeController
    let registry: PrometheusCollectorRegistry
    let configuration: ServerConfiguration

    var authorized: HTTPFields { [.authorization: "Bearer \(Self.token)"] }

    func yamlHeaders(authorized: Bool = true) -> HTTPFields {
        var headers: HTTPFields = [.contentType: "application/yaml"]
        if authorized { headers[.authorization] = "Bearer \(Self.token)" }
        return headers
    }

    func application() throws -> some ApplicationProtocol {
        try buildApplication(configuration: configuration, store: store, controller: controller, registry: registry,
                             logger: Logger(label: "drove.server.tests", factory: { _ in SwiftLogNoOpLogHandler() }))
    }
}

func withFixture<T>(
    controller: FakeController = FakeController(), maxBodyBytes: Int = 64 << 10, port: Int = 0,
    heartbeat: Duration = .seconds(15), idleTimeout: Duration = ServerConfiguration.defaultIdleTimeout,
    policy: ManifestPolicy = ManifestPolicy(templateFiles: .anywhere),
    _ body: (Fixture) async throws -> T
) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drove-server-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let tokenFile = directory + "/token"
    try (Fixture.token + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)
    let store = try Store(path: directory + "/state/drove.sqlite")
    var configuration = ServerConfiguration(host: "127.0.0.1", port: port, tokenFile: tokenFile, maxBodyBytes: maxBodyBytes)
    configuration.heartbeatInterval = heartbeat
    configuration.idleTimeout = idleTimeout
    // The fixtures' template files are never read (the controller is a stand-in); the policy's
    // own tests set a narrower one.
    configuration.manifestPolicy = policy
    let fixture = Fixture(directory: directory, store: store, controller: controller, registry: PrometheusCollectorRegistry(),
                          configuration: configuration)
    do {
        let result = try await body(fixture)
        try store.close()
        return result
    } catch {
        try? store.close()
        throw error
    }
}

/// The application, driven in-process without a socket.
func withRouterClient<T: Sendable>(
    controller: FakeController = FakeController(), maxBodyBytes: Int = 64 << 10,
    policy: ManifestPolicy = ManifestPolicy(templateFiles: .anywhere),
    _ body: @escaping @Sendable (Fixture, any TestClientProtocol) async throws -> T
) async throws -> T {
    try await withFixture(controller: controller, maxBodyBytes: maxBodyBytes, policy: policy) { fixture in
        try await fixture.application().test(.router) { client in try await body(fixture, client) }
    }
}

func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    try APIJSON.decoder().decode(T.self, from: Data(buffer: response.body))
}

func text(_ response: TestResponse) -> String {
    String(buffer: response.body)
}

// MARK: - Manifests

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

func vmSetYAML(_ name: String = "web", replicas: Int = 3, template: String = "alpine") -> String {
    """
    apiVersion: drove/v1
    kind: VMSet
    metadata: { name: \(name) }
    spec: { replicas: \(replicas), template: \(template) }
    """
}

func fleetYAML(replicas: Int = 3) -> String {
    [hostYAML, templateYAML, vmSetYAML(replicas: replicas)].joined(separator: "\n---\n")
}

// MARK: - Time limits

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with `TimedOut` if it takes longer than `seconds`.
func withTimeout<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimedOut(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
