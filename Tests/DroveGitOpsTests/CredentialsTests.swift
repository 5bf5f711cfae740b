import DroveManifest
import DroveStore
import DroveTestSupport
import Foundation
import Testing

/// A private repository: served over HTTP on loopback by git's own http-backend behind basic
/// authentication, fetched with the token a secretRef file holds, and refused without it.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CredentialsTests {
    @Test("fetched with the token from secretRef, refused without it or with a wrong one; the token shows nowhere")
    func tokenOverHTTP() async throws {
        let harness = try GitOpsHarness(hosts: [FakeHost(name: "node-1")], plainHTTP: true)
        await harness.run {
            let served = harness.directory.appendingPathComponent("served")
            let upstream = try Upstream(in: served)
            try upstream.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 2)]
                .joined(separator: "\n---\n"))
            let commit = try upstream.commit("web")
            let token = "tok-\(UUID().uuidString)"
            try "\(token)\n".write(to: harness.credentials.appendingPathComponent("fleet-token"), atomically: true, encoding: .utf8)
            try "not-the-token\n".write(to: harness.credentials.appendingPathComponent("wrong-token"), atomically: true, encoding: .utf8)
            let server = GitHTTPServer(root: served, token: token)

            try await server.serve { port in
                let url = "http://127.0.0.1:\(port)/fleet.git"
                try await harness.apply([harness.sourceYAML(url: url)])
                try await harness.wait("refused without credentials") {
                    await harness.ready()?.reason == ConditionReason.fetchFailed.rawValue
                }
                #expect(await harness.ready()?.message.contains("git ls-remote \(url) refs/heads/main") == true)
                #expect(server.refused >= 1)

                let wrong = "  secretRef: { path: \(harness.credentials.path)/wrong-token }"
                try await harness.apply([harness.sourceYAML(url: url, extra: wrong)])
                let refusedBefore = server.refused
                try await harness.wait("refused with a wrong token") {
                    server.refused > refusedBefore ? await harness.ready()?.reason == ConditionReason.fetchFailed.rawValue : false
                }
                #expect(await harness.git()?.appliedRevision == nil && harness.vms(of: "web").isEmpty)

                let right = "  secretRef: { path: \(harness.credentials.path)/fleet-token, username: deploy }"
                try await harness.apply([harness.sourceYAML(url: url, extra: right)])
                try await harness.wait("fetched with the token, and web runs") {
                    harness.vms(of: "web").count == 2 ? await harness.git()?.appliedRevision == commit : false
                }
            }

            // The token is in no status, event or stored object.
            let status = try #require(try await harness.store.status(kind: .gitSource, name: "fleet"))
            let rendered = String(decoding: try JSONEncoder().encode(status.details), as: UTF8.self)
                + status.conditions.map(\.message).joined()
            #expect(!rendered.contains(token))
            let events = try await harness.store.events(after: 0, limit: 1000)
            #expect(!events.contains { $0.message.contains(token) })
            #expect(try await harness.store.objects().allSatisfy { !$0.manifestText.contains(token) })
        }
    }
}
