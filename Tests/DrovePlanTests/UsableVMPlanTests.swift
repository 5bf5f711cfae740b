import DroveManifest
@testable import DrovePlan
import Testing

@Suite("Planning NICs, seeds and readiness")
struct UsableVMPlanTests {
    @Test("a VM on a network is placed only on hosts that offer it, else unschedulable with the cause")
    func placementFollowsNetworks() {
        var fleet = Fleet()
        fleet.manifest.hosts[1].spec.networks = ["lab"]
        fleet.addSet("web", replicas: 3)
        fleet.manifest.vmSets[0].spec.networks = [Network(), Network(type: .network, source: "lab")]
        let plan = fleet.plan()
        #expect(Set(plan.createdOn.values) == ["node-2"])
        #expect(plan.createdOn.count == 3)

        fleet.manifest.vmSets[0].spec.networks = [Network(type: .bridge, source: "br9")]
        let nowhere = fleet.plan()
        #expect(nowhere.createdOn.isEmpty)
        #expect(nowhere.unschedulable.map(\.cause) == Array(repeating: .networkNotOffered, count: 3))
        #expect(nowhere.unschedulable.first?.reason.contains("bridge br9") == true)
    }

    @Test("each NIC gets its MAC, and the MACs survive a spec change")
    func macsAreStable() throws {
        var fleet = Fleet()
        fleet.manifest.hosts = fleet.manifest.hosts.map { host in var host = host; host.spec.networks = ["lab"]; return host }
        fleet.addSet("web", replicas: 1)
        fleet.manifest.vmSets[0].spec.networks = [Network(type: .network, source: "lab"), Network()]
        func nics() throws -> [NIC] {
            let created = fleet.plan().actions.compactMap { action -> VMInstance? in
                if case let .createDisk(vm) = action.kind { vm } else { nil }
            }
            return try #require(created.first).nics
        }
        let before = try nics()
        #expect(before.map(\.mac) == [MACAddress.derived(set: "web", ordinal: 0, nic: 0), MACAddress.derived(set: "web", ordinal: 0, nic: 1)])
        fleet.manifest.vmSets[0].spec.resources.memory = 128 << 20
        #expect(try nics().map(\.mac) == before.map(\.mac))
    }

    @Test("the seed names the VM, and a user-data change is a spec change")
    func seedAndSpecHash() throws {
        var set = VMSet(metadata: ObjectMeta(name: "web"), spec: VMSetSpec(replicas: 2, template: "tiny"))
        #expect(Seed.of(set, ordinal: 0) == nil)
        set.spec.cloudInit = CloudInit(userData: "#!/bin/sh\necho one\n", metaData: ["role": "web\"quoted"])
        let seed = try #require(Seed.of(set, ordinal: 1))
        let lines = seed.metaData.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.contains(#"local-hostname: "web-1""#))
        #expect(lines.contains { $0.hasPrefix(#"instance-id: "web-1-"#) })
        #expect(lines.contains(#"role: "web\"quoted""#))
        #expect(seed.userData == "#!/bin/sh\necho one\n")
        let first = SpecHash.of(set.spec, templateDigest: "d", domainType: "qemu")
        let firstID = seed.metaData
        set.spec.cloudInit?.userData = "#!/bin/sh\necho two\n"
        #expect(SpecHash.of(set.spec, templateDigest: "d", domainType: "qemu") != first)
        #expect(Seed.of(set, ordinal: 1)?.metaData != firstID) // a new instance-id: cloud-init runs again
    }

    @Test("address readiness counts a VM ready once an address of it is known")
    func addressReadiness() {
        var vm = ObservedVM(name: "web-0", set: "web", ordinal: 0, specHash: "h", templateDigest: "d", volume: "v",
                            vcpus: 1, memoryBytes: 1, state: .running, agentConnected: true)
        #expect(!SetTally.isReady(vm, readiness: .address))
        #expect(SetTally.isReady(vm, readiness: .agent))
        vm.addresses = ["10.77.1.100"]
        vm.agentConnected = false
        #expect(SetTally.isReady(vm, readiness: .address) && !SetTally.isReady(vm, readiness: .agent))
        vm.state = .stopped
        #expect(!SetTally.isReady(vm, readiness: .address))
    }

    @Test("a set's readiness overrides its template's")
    func readinessOverride() {
        var fleet = Fleet()
        fleet.addTemplate("tiny", digest: Fleet.digest, readiness: .agent)
        fleet.addSet("web", replicas: 1)
        #expect(SetTally.readiness(of: fleet.set("web"), in: fleet.manifest) == .agent)
        fleet.manifest.vmSets[0].spec.readiness = .address
        #expect(SetTally.readiness(of: fleet.set("web"), in: fleet.manifest) == .address)
    }
}
