import DroveManifest
import Testing
@testable import DrovePlan

/// `start: snapshot`: golden snapshots made ahead of need, clones resting on them, fallback to
/// booting, and their removal.
@Suite struct GoldenPlanTests {
    /// The golden snapshot `set`'s VMs resume from on every host of the fixture.
    func golden(_ fleet: Fleet, _ set: String) -> GoldenImage {
        GoldenImage.of(fleet.set(set), template: fleet.images["tiny"]!, domainType: "qemu", hypervisorVersion: 0)
    }

    @Test func snapshotSetsMakeOneGoldenPerHostAfterItsCopyThenRestoreClonesFromIt() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 6, start: .snapshot)
        let plan = fleet.plan()

        let makes = plan.actions("make-golden")
        #expect(Set(makes.map(\.host)) == ["node-1", "node-2", "node-3"])
        #expect(makes.count == 3)
        #expect(plan.actions("start").isEmpty)
        #expect(plan.actions("restore").count == 6)
        for make in makes {
            let copy = plan.actions("copy-template").first { $0.host == make.host }!
            #expect(make.dependsOn == [copy.id])
        }
        for disk in plan.actions("create-disk") {
            guard case let .createDisk(vm) = disk.kind else { continue }
            #expect(vm.golden == golden(fleet, "web"))
            let make = makes.first { $0.host == disk.host }!
            #expect(disk.dependsOn.contains(make.id))
            let define = plan.actions("define").first { $0.dependsOn == [disk.id] }!
            let restore = plan.actions("restore").first { $0.dependsOn == [define.id] }!
            #expect(restore.kind == .restoreVM(vm.name, golden: golden(fleet, "web").name.key))
        }
    }

    @Test func aCompleteGoldenIsUsedAsItIs() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 3, start: .snapshot)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        let golden = golden(fleet, "web")
        for host in ["node-1", "node-2", "node-3"] {
            fleet.observed[host]!.goldens[golden.name.key] = GoldenCopy(name: golden.name, state: .complete)
        }
        let plan = fleet.plan()
        #expect(plan.actions("make-golden").isEmpty)
        #expect(plan.actions("restore").count == 3)
        for disk in plan.actions("create-disk") { #expect(disk.dependsOn.isEmpty) }
    }

    @Test func aPartialGoldenIsMadeAgainNeverUsed() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 1, start: .snapshot, placementOn: "node-1")
        fleet.holdTemplate(on: ["node-1"])
        let golden = golden(fleet, "web")
        fleet.observed["node-1"]!.goldens[golden.name.key] = GoldenCopy(name: golden.name, state: .partial)
        let plan = fleet.plan()
        #expect(plan.actions("make-golden").map(\.host) == ["node-1"])
        let disk = plan.actions("create-disk")[0]
        #expect(disk.dependsOn == plan.actions("make-golden").map(\.id))
    }

    @Test func aTemplateThatCannotResumeBootsWithAReason() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 2, start: .snapshot, placementOn: "node-1")
        fleet.holdTemplate(on: ["node-1"])
        let golden = golden(fleet, "web")
        fleet.observed["node-1"]!.goldens[golden.name.key] = GoldenCopy(name: golden.name, state: .unsupported)
        let plan = fleet.plan()
        #expect(plan.actions("make-golden").isEmpty)
        #expect(plan.actions("restore").isEmpty)
        #expect(plan.actions("start").count == 2)
        #expect(plan.bootFallbacks.map(\.vm).sorted() == ["web-0", "web-1"])
        #expect(plan.bootFallbacks.allSatisfy { $0.reason.contains("cannot take an identity after resuming") })
        for disk in plan.actions("create-disk") {
            guard case let .createDisk(vm) = disk.kind else { continue }
            #expect(vm.golden == nil)
        }
    }

    @Test func whatShapesTheSavedMachineIsInTheGoldenKey() {
        var fleet = Fleet()
        fleet.addSet("a", replicas: 1, start: .snapshot)
        fleet.addSet("b", replicas: 5, start: .snapshot)
        fleet.addSet("big", replicas: 1, memory: 256 << 20, start: .snapshot)
        // Sets alike in all that shapes the machine share one golden; names and counts do not matter.
        #expect(golden(fleet, "a").name == golden(fleet, "b").name)
        #expect(golden(fleet, "a").name.key != golden(fleet, "big").name.key)
        let image = fleet.images["tiny"]!
        let set = fleet.set("a")
        #expect(GoldenImage.of(set, template: image, domainType: "kvm", hypervisorVersion: 0).name != golden(fleet, "a").name)
        #expect(GoldenImage.of(set, template: image, domainType: "qemu", hypervisorVersion: 8_002_000).name != golden(fleet, "a").name)
        var changed = image
        changed.digest = "0th3r"
        #expect(GoldenImage.of(set, template: changed, domainType: "qemu", hypervisorVersion: 0).name.templateDigest == "0th3r")
    }

    @Test func goldenVolumesAreDrovesAndClassified() {
        let name = GoldenName(templateDigest: "abc123", key: "00ff00ff00ff00ff")
        for volume in name.volumes {
            guard case let .golden(found, part) = Naming.classify(volume: volume) else {
                Issue.record("\(volume) not classified as golden")
                continue
            }
            #expect(found == name)
            #expect(volume.hasSuffix(part))
        }
        #expect(Naming.classify(volume: "drove-gold-abc123-00ff00ff00ff00ff.other") == .notDroves)
        #expect(Naming.classify(volume: "drove-vm-web-0.restore") == .companion(vm: "web-0"))
    }

    @Test func pruningDeletesUnusedGoldensBeforeTheirTemplateCopy() {
        var fleet = Fleet()
        fleet.holdTemplate(on: ["node-1"])
        let golden = GoldenImage.of(VMSet(metadata: ObjectMeta(name: "gone"), spec: VMSetSpec(replicas: 1, template: "tiny", start: .snapshot)),
                                    template: fleet.images["tiny"]!, domainType: "qemu", hypervisorVersion: 0)
        fleet.observed["node-1"]!.goldens[golden.name.key] = GoldenCopy(name: golden.name, state: .complete)
        let plan = fleet.plan(prune: .unused)
        let delete = plan.actions("delete-golden")
        #expect(delete.map(\.kind) == [.deleteGolden(golden.name)])
        let template = plan.actions("delete-template").first { $0.host == "node-1" }!
        #expect(template.dependsOn.contains(delete[0].id))
    }

    @Test func aGoldenInUseOrWantedStays() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 1, start: .snapshot, placementOn: "node-1")
        fleet.holdTemplate(on: ["node-1"])
        let golden = golden(fleet, "web")
        fleet.observed["node-1"]!.goldens[golden.name.key] = GoldenCopy(name: golden.name, state: .complete)
        fleet.run("web", ordinal: 0, on: "node-1")
        fleet.observed["node-1"]!.vms["web-0"]!.golden = golden.name.key
        let plan = fleet.plan(prune: .unused)
        #expect(plan.actions("delete-golden").isEmpty)
        #expect(plan.actions("delete-template").isEmpty)
    }

    @Test func goldenGarbageIsWhatNoSetWantsAndNoVMRestsOn() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 2, start: .snapshot, placementOn: "node-1")
        let current = golden(fleet, "web")
        var older = current.name
        older.key = "0ld0ld0ld0ld0ld0"
        var inUse = current.name
        inUse.key = "u5edu5edu5edu5ed"
        for name in [current.name, older, inUse] {
            fleet.observed["node-1"]!.goldens[name.key] = GoldenCopy(name: name, state: .complete)
        }
        fleet.run("web", ordinal: 0, on: "node-1")
        fleet.observed["node-1"]!.vms["web-0"]!.golden = inUse.key
        // On node-2, which web's selector does not match, even web's current golden is garbage.
        fleet.observed["node-2"]!.goldens[current.name.key] = GoldenCopy(name: current.name, state: .partial)
        let desired = DesiredState(manifest: fleet.manifest, images: fleet.images)
        let ours: Set = [current.name.key, older.key, inUse.key]
        let garbage = goldenGarbage(desired, ObservedFleet(hosts: Array(fleet.observed.values)), ours: ours)
        #expect(garbage.map { "\($0.host) \($0.kind)" } == ["node-1 \(Action.Kind.deleteGolden(older))", "node-2 \(Action.Kind.deleteGolden(current.name))"])
        // Another installation's goldens on the same hosts are never this one's garbage.
        #expect(goldenGarbage(desired, ObservedFleet(hosts: Array(fleet.observed.values)), ours: [inUse.key]).isEmpty)

        // A template that cannot be read: which goldens its sets want is unknown, so none goes.
        var unreadable = desired
        unreadable.images = [:]
        #expect(goldenGarbage(unreadable, ObservedFleet(hosts: Array(fleet.observed.values)), ours: ours).isEmpty)
    }

    @Test func bootSetsMakeNoGoldens() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 3)
        let plan = fleet.plan()
        #expect(plan.actions("make-golden").isEmpty)
        #expect(plan.actions("restore").isEmpty)
    }
}

extension Fleet {
    mutating func addSet(_ name: String, replicas: Int, start: StartMode, placementOn host: String) {
        addSet(name, replicas: replicas, placement: Placement(hostSelector: LabelSelector(["kubernetes.io/hostname": host])), start: start)
        // Label the host so the selector matches it alone.
        for index in manifest.hosts.indices where manifest.hosts[index].metadata.name == host {
            manifest.hosts[index].metadata.labels["kubernetes.io/hostname"] = host
        }
    }
}
