import DroveController
import DroveEngine
import DroveManifest
import DroveStore
import DroveTestSupport
import Foundation
import Libvirt
import Testing

/// GitOps on the lab's real daemons with real guests: a commit adds a VM set and its guests come
/// up, a commit changes it and it rolls within maxUnavailable, a commit removes it and prune
/// removes its VMs. Also prints how long a push takes to reach running and ready guests.
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(10)))
struct GitOpsLabTests {
    let set = "git\(UUID().uuidString.prefix(4).lowercased())"

    func setYAML(memory: String) -> String {
        """
        apiVersion: drove/v1
        kind: VMSet
        metadata: { name: \(set) }
        spec: { replicas: 3, template: tiny, resources: { memory: \(memory) }, updateStrategy: { maxUnavailable: 1 } }
        """
    }

    /// The set's domains on the lab hosts, and how many of them run.
    func domains() async throws -> (all: [String], running: Int) {
        var all: [String] = [], running = 0
        for index in 1...3 {
            let connection = try await Connection.open(try #require(LabHost.uri(index), "CI needs 3 lab hosts"))
            for domain in try await connection.listAllDomains() where domain.name.hasPrefix("\(set)-") {
                all.append(domain.name)
                if try await domain.isActive() { running += 1 }
            }
            await connection.close()
        }
        return (all.sorted(), running)
    }

    @Test("a commit adds a set and its guests come up; a change rolls; a removal prunes its VMs")
    func commitsReachTheLab() async throws {
        let tiny = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        let hosts = try #require(LabHost.hostsYAML(count: 3), "CI needs 3 lab hosts")
        let harness = try GitOpsHarness(hosts: [], connector: LibvirtConnector())
        await harness.run {
            let upstream = try Upstream(in: harness.repositories)
            try upstream.write("manifests/hosts.yaml", hosts)
            try upstream.write("manifests/template.yaml", """
                apiVersion: drove/v1
                kind: Template
                metadata: { name: tiny }
                spec: { source: { path: "\(tiny)" }, readiness: agent }
                """)
            let base = try upstream.commit("hosts and a template")
            try await harness.apply([harness.sourceYAML(url: upstream.url)])
            try await harness.wait("the source applied its first revision", timeout: .seconds(60)) {
                await harness.git()?.appliedRevision == base
            }

            // A push adding a set, and the sync request a push webhook makes (after its signature).
            try upstream.write("manifests/set.yaml", setYAML(memory: "96Mi"))
            let first = try upstream.commit("a set of three")
            let pushed = ContinuousClock.now
            _ = try await harness.gitSync.requestSync("fleet")
            var firstRunning: Duration?
            try await harness.wait("the set is Ready from the commit", timeout: .seconds(180)) {
                if firstRunning == nil, let running = try? await domains().running, running > 0 { firstRunning = ContinuousClock.now - pushed }
                return await harness.isReady(set)
            }
            let ready = ContinuousClock.now - pushed
            print("GitOps on the lab: push → first VM running \(firstRunning.map { "\($0)" } ?? "?"), → set of 3 Ready \(ready)")
            #expect(await harness.git()?.appliedRevision == first)
            #expect(try await domains().all == (0..<3).map { "\(set)-\($0)" })

            // A change rolls out, never more than one of three down.
            try upstream.write("manifests/set.yaml", setYAML(memory: "112Mi"))
            let second = try upstream.commit("more memory")
            try await harness.sync(until: second)
            var fewest = 3
            try await harness.wait("rolled out", timeout: .seconds(240)) {
                if let running = try? await domains().running { fewest = min(fewest, running) }
                guard let status = try? await harness.store.status(kind: .vmSet, name: set) else { return false }
                return status.observedGeneration == 2 && status.condition(.ready)?.status == .true
            }
            #expect(fewest >= 2, "\(3 - fewest) of 3 were down at once with maxUnavailable 1")

            // Removed from the repository, with prune: its VMs go.
            try upstream.remove("manifests/set.yaml")
            let third = try upstream.commit("no more set")
            try await harness.sync(until: third)
            try await harness.wait("pruned, VMs gone", timeout: .seconds(120)) {
                let object = await harness.object(.vmSet, set)
                let left = (try? await domains().all) ?? ["?"]
                return object == nil && left.isEmpty
            }
        }
    }
}
