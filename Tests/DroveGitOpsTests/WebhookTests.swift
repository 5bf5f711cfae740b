import Crypto
import DroveAPI
import DroveController
import DroveGitOps
import DroveManifest
import DrovePlan
import DroveServer
import DroveStore
import DroveTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Testing

/// The controller process as `drove serve` wires it: the API in front of the controller and
/// GitSync.
struct ServeHandle: ControllerHandle {
    let controller: Controller
    let gitSync: GitSync

    func enqueue(_ reference: ObjectReference) async { await controller.enqueue(reference) }
    func plan(for manifest: Manifest) async throws -> Plan { try await controller.plan(for: manifest) }
    func vms() async -> [VMSummary] { await controller.vms() }
    func consoleLog(vm: String, from offset: UInt64) async throws -> APIConsoleLog? { try await controller.consoleLog(vm: vm, from: offset) }
    func requestSync(gitSource name: String) async throws -> Date? { try await gitSync.requestSync(name) }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct WebhookTests {
    @Test("a push webhook with a valid signature starts a sync within a second and the new set comes up; a bad signature gets 401 and changes nothing")
    func webhookEndToEnd() async throws {
        let hosts = (1...2).map { FakeHost(name: "node-\($0)") }
        let harness = try GitOpsHarness(hosts: hosts)
        await harness.run {
            let secret = "push-secret-\(UUID().uuidString.prefix(8))"
            try secret.write(to: harness.credentials.appendingPathComponent("hook"), atomically: true, encoding: .utf8)
            let upstream = try Upstream(in: harness.repositories)
            try upstream.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML()].joined(separator: "\n---\n"))
            let first = try upstream.commit("hosts")
            try await harness.apply([harness.sourceYAML(url: upstream.url, extra: "  webhookSecretRef: { path: \(harness.credentials.path)/hook }")])
            try await harness.wait("first applied") { await harness.git()?.appliedRevision == first }

            let application = try buildApplication(
                configuration: ServerConfiguration(host: "127.0.0.1", port: 0, manifestPolicy: harness.policy), store: harness.store,
                controller: ServeHandle(controller: harness.controller, gitSync: harness.gitSync), registry: PrometheusCollectorRegistry(),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            try await application.test(.router) { client in
                func post(_ body: String, signedWith key: String) async throws -> TestResponse {
                    let mac = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(key.utf8)))
                    return try await client.execute(uri: "/api/v1/hooks/fleet", method: .post,
                                                    headers: [.init("X-Hub-Signature-256")!: "sha256=" + mac.map { String(format: "%02x", $0) }.joined(),
                                                              .init("X-GitHub-Event")!: "push", .contentType: "application/json"],
                                                    body: ByteBuffer(string: body))
                }

                // A bad signature first: refused, and nothing is fetched.
                try upstream.write("manifests/web.yaml", harness.setYAML("web", replicas: 3))
                let second = try upstream.commit("web")
                let payload = #"{"ref":"refs/heads/main","after":"\#(second)"}"#
                let lastBefore = await harness.git()?.lastSyncAt
                let bad = try await post(payload, signedWith: "not-the-secret")
                #expect(bad.status == .unauthorized)
                try await Task.sleep(for: .milliseconds(500))
                let after = await harness.git()
                #expect(after?.lastSyncAt == lastBefore && after?.appliedRevision == first, "a refused webhook changes nothing")

                let pushed = ContinuousClock.now
                let sent = Date()
                let response = try await post(payload, signedWith: secret)
                #expect(response.status == .accepted)
                let requested = try #require(try APIJSON.decoder().decode(APISyncResponse.self, from: Data(buffer: response.body)).requestedAt)
                try await harness.wait("a sync after the webhook", timeout: .seconds(5)) {
                    guard let last = await harness.git()?.lastSyncAt else { return false }
                    return last >= requested
                }
                let started = try #require(await harness.git()?.lastSyncAt)
                #expect(started.timeIntervalSince(sent) < 1, "the sync started \(started.timeIntervalSince(sent)) s after the webhook")
                var firstRunning: Duration?
                try await harness.wait("web Ready at the pushed revision") {
                    if firstRunning == nil, harness.vms(of: "web").contains(where: { $0.state == .running }) { firstRunning = ContinuousClock.now - pushed }
                    let git = await harness.git()
                    return git?.appliedRevision == second && git?.converged == true
                }
                let ready = ContinuousClock.now - pushed
                #expect(harness.vms(of: "web").count == 3)
                // What docs/benchmarks.md quotes for in-memory hosts.
                print("gitops latency on fake hosts: webhook to sync start \(started.timeIntervalSince(sent)) s, "
                    + "to first VM running \(firstRunning.map { "\($0)" } ?? "-"), to set Ready \(ready)")
            }
        }
    }
}
