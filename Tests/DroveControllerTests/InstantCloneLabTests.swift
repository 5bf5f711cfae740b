import DroveAPI
import DroveHost
import DroveManifest
import DroveStore
import Crypto
import DroveTestSupport
import Foundation
import Libvirt
import Logging
import Testing
@testable import DroveController

/// `start: snapshot` on the lab's real daemons: golden snapshots made ahead of need, clones
/// resumed from them under identities of their own (name, UUID, MACs, VM generation ID, host
/// name, RNG state), a template change making new goldens and rolling the set, and the golden
/// pairs gone with the set and the template.
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(15)))
struct InstantCloneLabTests {
    let suffix = String(UUID().uuidString.prefix(4).lowercased())
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-instant-\(UUID().uuidString.prefix(6))")

    func hostsYAML() throws -> String {
        try (1...3).map { index in
            """
            apiVersion: drove/v1
            kind: Host
            metadata: { name: node-\(index) }
            spec: { uri: "\(try #require(LabHost.uri(index), "CI needs 3 lab hosts"))", domainType: qemu, networks: [drove-lab] }
            """
        }.joined(separator: "\n---\n")
    }

    func templateYAML(_ name: String, path: String) -> String {
        "apiVersion: drove/v1\nkind: Template\nmetadata: { name: \(name) }\nspec: { source: { path: \"\(path)\" }, readiness: agent }"
    }

    func setYAML(_ name: String, template: String, replicas: Int) -> String {
        """
        apiVersion: drove/v1
        kind: VMSet
        metadata: { name: \(name) }
        spec:
          replicas: \(replicas)
          template: \(template)
          start: snapshot
          resources: { memory: 96Mi }
          networks: [ { type: network, source: drove-lab } ]
          cloudInit:
            userData: |
              #!/bin/sh
              echo "user-data of $(hostname)"
          readiness: agent
          updateStrategy: { maxUnavailable: 2 }
        """
    }

    func apply(_ store: Store, _ documents: [String]) async throws {
        let source = ManifestSource(name: "instant.yaml", text: documents.joined(separator: "\n---\n"), baseDirectory: scratch.path)
        _ = try await store.apply(try AppliedObject.objects(in: try ManifestLoader().load(sources: [source]), sources: [source]))
    }

    /// The golden snapshot volumes of templates with these digests in the lab hosts' pools,
    /// and every golden guest's domain.
    func goldenLeftovers(digests: [String]) async throws -> [String] {
        var names: [String] = []
        for index in 1...3 {
            let connection = try await Connection.open(try #require(LabHost.uri(index)))
            if let pool = try await connection.storagePool(named: "default") {
                try await pool.refresh()
                names += try await pool.volumeNames().filter { volume in digests.contains { volume.hasPrefix("drove-gold-\($0)") } }
                    .map { "node-\(index):\($0)" }
            }
            names += try await connection.listAllDomains().map(\.name).filter { $0.hasPrefix("drove.golden.") }.map { "node-\(index):\($0)" }
            await connection.close()
        }
        return names
    }

    /// A copy of the tiny template with bytes of its own after the image's end (which QEMU
    /// never reads): another digest for every run, so no copy or golden of an earlier run counts.
    func uniqueTemplate(_ source: String, _ name: String) throws -> (path: String, digest: String) {
        var data = try Data(contentsOf: URL(fileURLWithPath: source))
        data.append(contentsOf: Array("drove-test \(UUID().uuidString)".utf8) + [UInt8](repeating: 0, count: 512))
        let path = scratch.appendingPathComponent(name).path
        try data.write(to: URL(fileURLWithPath: path))
        return (path, SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined())
    }

    /// A VM's live XML on its lab host.
    func liveXML(_ vm: VMSummary) async throws -> String {
        let host = try #require(vm.host)
        let index = try #require(Int(host.dropFirst("node-".count)))
        let connection = try await Connection.open(try #require(LabHost.uri(index)))
        defer { Task { await connection.close() } }
        return try await #require(try await connection.domain(named: vm.name)).xml()
    }

    static func values(_ xml: String, between open: String, and close: String) -> [String] {
        xml.components(separatedBy: open).dropFirst().compactMap { $0.components(separatedBy: close).first }
    }

    @Test("clones of one golden snapshot each have their own name, UUID, MACs, generation ID, host name and random numbers; a template change rolls the set onto new goldens; removal takes the goldens")
    func clonesOfOneGolden() async throws {
        let tinyPath = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let (tiny, firstDigest) = try uniqueTemplate(tinyPath, "tiny.qcow2")
        let template = "ic\(suffix)"
        let set = "ics\(suffix)"
        let store = try Store(path: scratch.appendingPathComponent("drove.sqlite").path)
        try await apply(store, [try hostsYAML(), templateYAML(template, path: tiny), setYAML(set, template: template, replicas: 4)])
        let controller = Controller(store: store, options: Controller.Options(workers: 4, policy: ManifestPolicy(templateFiles: .anywhere)),
                                    logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let task = Task { await controller.run() }
        var digests = [firstDigest]
        do {
            try await waitUntil("\(set) is Ready", timeout: .seconds(420)) {
                await (try? store.status(kind: .vmSet, name: set))?.condition(.ready)?.reason == ConditionReason.allReplicasReady.rawValue
            }
            let vms = await controller.vms().filter { $0.vmSet == set }
            #expect(vms.count == 4)
            var uuids: Set<String> = [], genids: Set<String> = [], macs: Set<String> = [], randoms: Set<String> = []
            for vm in vms {
                let xml = try await liveXML(vm)
                uuids.formUnion(Self.values(xml, between: "<uuid>", and: "</uuid>"))
                genids.formUnion(Self.values(xml, between: "<genid>", and: "</genid>"))
                let own = Self.values(xml, between: "<mac address='", and: "'")
                #expect(own == [MACAddress.derived(set: set, ordinal: vm.ordinal, nic: 0)], "\(vm.name): \(own)")
                macs.formUnion(own)
                let log = await controller.consoleTail(vm.name, on: try #require(vm.host), lines: 200)
                let clone = log.components(separatedBy: "\n").first { $0.contains("drove-guest: clone ") } ?? ""
                #expect(clone.contains("drove-guest: clone \(vm.name) random "), "\(vm.name) console:\n\(log)")
                // "drove-guest: clone NAME random HEX (uptime …)": HEX must differ between clones.
                if let random = clone.components(separatedBy: " random ").last?.split(separator: " ").first { randoms.insert(String(random)) }
                #expect(log.contains("user-data of \(vm.name)"), "\(vm.name) console:\n\(log)")
                #expect(vm.addresses.first?.hasPrefix("10.77.") == true, "\(vm.name) addresses \(vm.addresses)")
            }
            #expect(uuids.count == 4 && genids.count == 4 && macs.count == 4 && randoms.count == 4,
                    "uuids \(uuids), genids \(genids), macs \(macs), randoms \(randoms)")
            let events = try await store.events(after: 0, limit: 5000)
            let restored = events.filter { $0.object.name == set && $0.message.contains("restored from golden snapshot") }
            #expect(restored.count == 4, "\(events.filter { $0.object.name == set }.map(\.message))")
            #expect(!events.contains { $0.reason == EventReason.bootedInstead.rawValue }, "no VM booted instead")
            try await waitUntil("every host holds a golden of \(template) (pre-boot)", timeout: .seconds(120)) {
                (try? await store.status(kind: .template, name: template))?.counters["golden"] == 3
            }

            // The template changes (other bytes, the same guest): new goldens, and the set rolls.
            let (changed, secondDigest) = try uniqueTemplate(tinyPath, "tiny-changed.qcow2")
            digests.append(secondDigest)
            try await apply(store, [templateYAML(template, path: changed)])
            // A template change does not change the set's generation: wait for its VMs.
            try await waitUntil("\(set) rolled onto the new template and is Ready", timeout: .seconds(420)) {
                let vms = await controller.vms().filter { $0.vmSet == set }
                let status = try? await store.status(kind: .vmSet, name: set)
                return vms.count == 4 && vms.allSatisfy { $0.templateDigest == secondDigest && $0.ready }
                    && status?.condition(.ready)?.reason == ConditionReason.allReplicasReady.rawValue
            }
            let made = try await store.events(after: 0, limit: 5000).filter { $0.reason == EventReason.goldenSnapshotMade.rawValue }
            for digest in digests {
                #expect(made.filter { $0.message.contains(String(digest.prefix(12))) }.count == 3,
                        "a golden of each template content on each host: \(made.map(\.message))")
            }
        } catch {
            Issue.record(error)
        }
        _ = try await store.delete([ObjectReference(kind: .vmSet, name: set), ObjectReference(kind: .template, name: template)])
        try await waitUntil("the set and the template are pruned", timeout: .seconds(180)) {
            let setGone = (try? await store.object(kind: .vmSet, name: set)) == nil
            let templateGone = (try? await store.object(kind: .template, name: template)) == nil
            return setGone && templateGone
        }
        try await waitUntil("no golden snapshot of either content is left", timeout: .seconds(120)) {
            (try? await goldenLeftovers(digests: digests))?.isEmpty == true
        }
        task.cancel()
        await task.value
        try store.close()
        try? FileManager.default.removeItem(at: scratch)
    }
}
