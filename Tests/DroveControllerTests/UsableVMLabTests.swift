import DroveAPI
import DroveHost
import DroveManifest
import DroveStore
import DroveTestSupport
import Foundation
import Libvirt
import Logging
import Testing
@testable import DroveController

/// Usable VMs on the lab's real daemons: cloud-init seeds the tiny guest reads, NICs on the
/// lab hosts' `drove-lab` network with stable MACs and DHCP addresses in status, a user-data
/// change rolling the set, seeds gone with their VMs, and a guest that never becomes ready
/// marked Failed with its console's last lines.
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(10)))
struct UsableVMLabTests {
    let suffix = String(UUID().uuidString.prefix(4).lowercased())
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-usable-\(UUID().uuidString.prefix(6))")

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

    func templateYAML() throws -> String {
        let tiny = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        return "apiVersion: drove/v1\nkind: Template\nmetadata: { name: tiny }\nspec: { source: { path: \"\(tiny)\" }, readiness: agent }"
    }

    func setYAML(_ name: String, replicas: Int, marker: String) -> String {
        """
        apiVersion: drove/v1
        kind: VMSet
        metadata: { name: \(name) }
        spec:
          replicas: \(replicas)
          template: tiny
          resources: { memory: 96Mi }
          networks:
            - { type: network, source: drove-lab }
            - { type: user }
          cloudInit:
            userData: |
              #!/bin/sh
              echo "user-data says \(marker)"
          readiness: address
          updateStrategy: { maxUnavailable: 1 }
        """
    }

    func apply(_ store: Store, _ documents: [String]) async throws {
        let source = ManifestSource(name: "usable.yaml", text: documents.joined(separator: "\n---\n"), baseDirectory: scratch.path)
        _ = try await store.apply(try AppliedObject.objects(in: try ManifestLoader().load(sources: [source]), sources: [source]))
    }

    func start(_ documents: [String]) async throws -> (Store, Controller, Task<Void, Never>) {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let store = try Store(path: scratch.appendingPathComponent("drove.sqlite").path)
        try await apply(store, documents)
        let controller = Controller(store: store, options: Controller.Options(workers: 4, policy: ManifestPolicy(templateFiles: .anywhere)),
                                    logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        return (store, controller, Task { await controller.run() })
    }

    /// The whole console log of `vm`, read through its host's driver.
    func console(_ controller: Controller, _ vm: VMSummary) async -> String {
        guard let host = vm.host else { return "" }
        return await controller.consoleTail(vm.name, on: host, lines: 200)
    }

    /// Volumes of `set`'s VMs left in the lab hosts' pools.
    func volumes(of set: String) async throws -> [String] {
        var names: [String] = []
        for index in 1...3 {
            let connection = try await Connection.open(try #require(LabHost.uri(index)))
            if let pool = try await connection.storagePool(named: "default") {
                try await pool.refresh()
                names += try await pool.volumeNames().filter { $0.hasPrefix("drove-vm-\(set)-") }
            }
            await connection.close()
        }
        return names
    }

    /// The MACs of a VM's NICs as libvirt holds them.
    func macs(_ vm: VMSummary) async throws -> [String] {
        let host = try #require(vm.host)
        let index = try #require(Int(host.dropFirst("node-".count)))
        let connection = try await Connection.open(try #require(LabHost.uri(index)))
        defer { Task { await connection.close() } }
        let xml = try await #require(try await connection.domain(named: vm.name)).xml()
        return xml.components(separatedBy: "<mac address='").dropFirst().map { String($0.prefix(17)) }
    }

    func stop(_ store: Store, _ task: Task<Void, Never>, sets: [String]) async throws {
        _ = try await store.delete(sets.map { ObjectReference(kind: .vmSet, name: $0) })
        try await waitUntil("the sets are pruned", timeout: .seconds(120)) {
            for set in sets where (try? await store.object(kind: .vmSet, name: set)) != nil { return false }
            return true
        }
        task.cancel()
        await task.value
        try store.close()
        try? FileManager.default.removeItem(at: scratch)
    }

    @Test("a seeded set on the lab network: hostnames and user data from the seed, addresses in status, a user-data change rolls it with the same MACs, and removal takes the seeds")
    func seededSetOnTheLabNetwork() async throws {
        let set = "uv\(suffix)"
        let (store, controller, task) = try await start([try hostsYAML(), try templateYAML(), setYAML(set, replicas: 2, marker: "one")])
        do {
            try await waitUntil("\(set) is Ready", timeout: .seconds(240)) {
                await (try? store.status(kind: .vmSet, name: set))?.condition(.ready)?.reason == ConditionReason.allReplicasReady.rawValue
            }
            let first = await controller.vms().filter { $0.vmSet == set }
            #expect(first.count == 2)
            var macsBefore: [String: [String]] = [:]
            for vm in first {
                #expect(vm.addresses.first?.hasPrefix("10.77.") == true, "\(vm.name) addresses \(vm.addresses)")
                let log = await console(controller, vm)
                #expect(log.contains("drove-guest: hostname \(vm.name)"), "\(vm.name) console:\n\(log)")
                #expect(log.contains("user-data says one"), "\(vm.name) console:\n\(log)")
                let macs = try await macs(vm)
                #expect(macs == [MACAddress.derived(set: set, ordinal: vm.ordinal, nic: 0), MACAddress.derived(set: set, ordinal: vm.ordinal, nic: 1)])
                macsBefore[vm.name] = macs
            }
            let seeds = try await volumes(of: set).filter { $0.hasSuffix(".seed.iso") }
            #expect(seeds.count == 2, "\(seeds)")

            // A user-data change is a spec change: the set rolls, and each VM keeps its MACs.
            try await apply(store, [try templateYAML(), setYAML(set, replicas: 2, marker: "two")])
            let generation = try #require(try await store.object(kind: .vmSet, name: set)).generation
            try await waitUntil("\(set) rolled and is Ready", timeout: .seconds(300)) {
                let status = try? await store.status(kind: .vmSet, name: set)
                return (status?.observedGeneration ?? 0) >= generation
                    && status?.condition(.ready)?.reason == ConditionReason.allReplicasReady.rawValue && status?.counters["updated"] == 2
            }
            for vm in await controller.vms().filter({ $0.vmSet == set }) {
                let log = await console(controller, vm)
                #expect(log.contains("user-data says two") && !log.contains("user-data says one"), "\(vm.name) console:\n\(log)")
                #expect(try await macs(vm) == macsBefore[vm.name])
            }
            let rolled = try await store.events(after: 0, limit: 5000).filter { $0.object.name == set && $0.reason == EventReason.removed.rawValue }
            #expect(rolled.count == 2, "each VM was replaced once")
        } catch {
            Issue.record(error)
        }
        try await stop(store, task, sets: [set])
        #expect(try await volumes(of: set).isEmpty, "disks, seeds and console logs go with their VMs")
    }

    @Test("a VM whose readiness never comes goes Failed after the timeout, with its console's last lines")
    func neverReady() async throws {
        // Address readiness with only a user-mode NIC: the host never learns an address.
        let set = "nr\(suffix)"
        let yaml = """
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: \(set) }
            spec: { replicas: 1, template: tiny, resources: { memory: 96Mi }, readiness: address, readinessTimeout: 20s }
            """
        let (store, controller, task) = try await start([try hostsYAML(), try templateYAML(), yaml])
        do {
            try await waitUntil("\(set)-0 is Failed", timeout: .seconds(120)) {
                await controller.vms().first { $0.vmSet == set }?.phase == .failed
            }
            let vm = try #require(await controller.vms().first { $0.vmSet == set })
            let message = vm.message ?? ""
            #expect(message.contains("not ready 20s after it started (readiness: address)"), "\(message)")
            #expect(message.contains("drove-guest:"), "the console's last lines are in the message: \(message)")
            let events = try await store.events(after: 0, limit: 5000).filter { $0.object.name == set && $0.reason == EventReason.readinessTimedOut.rawValue }
            #expect(events.count == 1)
        } catch {
            Issue.record(error)
        }
        try await stop(store, task, sets: [set])
    }
}
