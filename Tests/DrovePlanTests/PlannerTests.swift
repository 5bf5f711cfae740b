import DroveManifest
import Testing
@testable import DrovePlan

@Suite struct PlannerTests {
    @Test func aFreshDeploymentCopiesTemplatesFirstThenClonesDefinesAndStarts() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 6)
        let plan = fleet.plan()

        let copies = plan.actions("copy-template")
        #expect(Set(copies.map(\.host)) == ["node-1", "node-2", "node-3"])
        #expect(plan.actions("create-disk").count == 6)
        #expect(plan.actions("define").count == 6)
        #expect(plan.actions("start").count == 6)
        // Spread: two per host.
        let perHost = Dictionary(grouping: plan.createdOn.values, by: { $0 }).mapValues(\.count)
        #expect(perHost == ["node-1": 2, "node-2": 2, "node-3": 2])
        // Each clone waits for its host's template copy; define waits for the disk; start for define.
        for disk in plan.actions("create-disk") {
            let copy = copies.first { $0.host == disk.host }!
            #expect(disk.dependsOn == [copy.id])
            let define = plan.actions("define").first { $0.dependsOn == [disk.id] }
            #expect(define != nil)
            #expect(plan.actions("start").contains { $0.dependsOn == [define!.id] })
        }
        #expect(plan.unschedulable.isEmpty)
    }

    @Test func aVMNameNamesItsSet() {
        #expect(Naming.set(ofVM: "web-3") == "web")
        #expect(Naming.set(ofVM: "web-api-12") == "web-api")
        #expect(Naming.set(ofVM: "web") == nil)
        #expect(Naming.set(ofVM: "web-") == nil)
        #expect(Naming.set(ofVM: "-3") == nil)
        #expect(Naming.set(ofVM: "web-x1") == nil)
    }

    @Test func planningIsDeterministic() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 7)
        fleet.addSet("db", replicas: 2)
        #expect(fleet.plan() == fleet.plan())
    }

    @Test func aConvergedFleetNeedsNothing() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 3)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        for ordinal in 0..<3 { fleet.run("web", ordinal: ordinal, on: "node-\(ordinal + 1)") }
        let plan = fleet.plan()
        #expect(plan.isEmpty)
        #expect(plan.unschedulable.isEmpty)
    }

    @Test func scalingDownRemovesTheHighestOrdinalsThenTheirDisks() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 2)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        for ordinal in 0..<4 { fleet.run("web", ordinal: ordinal, on: "node-\(ordinal % 3 + 1)") }
        let plan = fleet.plan()
        #expect(Set(plan.removed) == ["web-2", "web-3"])
        for delete in plan.actions("delete-volume") {
            let removal = plan.action(delete.dependsOn[0])
            #expect(removal.verb == "remove" && removal.host == delete.host)
        }
        #expect(plan.actions("create-disk").isEmpty)
    }

    @Test func scalingUpPlacesNewVMsOnTheLeastLoadedHosts() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 4)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        fleet.run("web", ordinal: 0, on: "node-1")
        fleet.run("web", ordinal: 1, on: "node-1")
        let plan = fleet.plan()
        #expect(plan.createdOn == ["web-2": "node-2", "web-3": "node-3"])
        #expect(plan.actions("copy-template").isEmpty)
    }

    @Test func aSpecChangeRollsWithinMaxUnavailable() {
        for maxUnavailable in [1, 2] {
            var fleet = Fleet()
            fleet.addSet("web", replicas: 4, maxUnavailable: maxUnavailable)
            fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
            for ordinal in 0..<4 { fleet.run("web", ordinal: ordinal, on: "node-\(ordinal % 3 + 1)", specHash: "old") }
            let plan = fleet.plan()
            #expect(plan.removed == (0..<maxUnavailable).map { "web-\($0)" })
            // The replacement is made only after the old VM and its disk are gone.
            for disk in plan.actions("create-disk") {
                #expect(disk.dependsOn.map { plan.action($0).verb }.sorted() == ["delete-volume", "remove"])
            }
            #expect(plan.actions("start").count == maxUnavailable)
        }
    }

    @Test func aRolloutWaitsForReplacementsToBeReadyWhenTheGuestCanSay() {
        var fleet = Fleet()
        fleet.addTemplate("tiny", digest: Fleet.digest, readiness: .agent)
        fleet.addSet("web", replicas: 4, maxUnavailable: 1)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        // web-0 was replaced already: it runs the new spec, but its guest has not said it is up.
        fleet.run("web", ordinal: 0, on: "node-1", ready: false)
        for ordinal in 1..<4 { fleet.run("web", ordinal: ordinal, on: "node-\(ordinal % 3 + 1)", specHash: "old") }
        #expect(fleet.plan().removed.isEmpty, "web-0 is not available yet, so the one allowed down is down")
        fleet.run("web", ordinal: 0, on: "node-1", ready: true)
        #expect(fleet.plan().removed == ["web-1"])
    }

    @Test func aVMThatIsAlreadyDownIsReplacedWithoutSpendingTheBudget() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 3, maxUnavailable: 1)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        fleet.run("web", ordinal: 0, on: "node-1", state: .stopped, specHash: "old")
        fleet.run("web", ordinal: 1, on: "node-2", specHash: "old")
        fleet.run("web", ordinal: 2, on: "node-3", specHash: "old")
        // web-0 is down already: replacing it costs nothing, and it uses up the one allowed.
        #expect(fleet.plan().removed == ["web-0"])
    }

    @Test func runStrategyStartsAndStops() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 1)
        fleet.addSet("batch", replicas: 1, run: .stopped)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        fleet.run("web", ordinal: 0, on: "node-1", state: .stopped)
        fleet.run("batch", ordinal: 0, on: "node-2", state: .running)
        let plan = fleet.plan()
        #expect(plan.actions.map(\.summary) == ["stop batch-0 on node-2", "start web-0 on node-1"])
    }

    @Test func aStoppedSetIsCreatedButNotStarted() {
        var fleet = Fleet()
        fleet.addSet("batch", replicas: 2, run: .stopped)
        let plan = fleet.plan()
        #expect(plan.actions("define").count == 2)
        #expect(plan.actions("start").isEmpty)
    }

    @Test func aDomainDroveDoesNotOwnIsNeverTouchedOrReused() {
        var fleet = Fleet(hosts: [("node-1", [:]), ("node-2", [:])])
        fleet.addSet("web", replicas: 1)
        fleet.observed["node-1"]!.foreignDomains = ["web-0"]
        fleet.observed["node-1"]!.strayVolumes = []
        let plan = fleet.plan()
        #expect(plan.createdOn == ["web-0": "node-2"])
        #expect(plan.removed.isEmpty)
    }

    @Test func aReplicaThatFitsNowhereIsReportedWithTheReason() {
        var fleet = Fleet(hosts: [("node-1", ["rack": "a"]), ("node-2", ["rack": "b"])], memory: 256 << 20)
        fleet.addSet("big", replicas: 3, memory: 200 << 20, placement: Placement(hostSelector: LabelSelector(["rack": "a"])))
        fleet.addSet("lost", replicas: 1, placement: Placement(hostSelector: LabelSelector(["rack": "z"])))
        let plan = fleet.plan()
        #expect(plan.createdOn == ["big-0": "node-1"])
        let reasons = Dictionary(uniqueKeysWithValues: plan.unschedulable.map { ($0.vm, $0.reason) })
        #expect(reasons["big-1"]?.contains("node-1: memory 200Mi of 256Mi committed, needs 200Mi more") == true)
        #expect(reasons["lost-0"] == "no host matches hostSelector rack=z")
    }

    @Test func packFillsOneHostUpToMaxPerHostBeforeTheNext() {
        var fleet = Fleet()
        fleet.addSet("batch", replicas: 4, placement: Placement(spread: .pack, maxPerHost: 3))
        let placed = fleet.plan().createdOn
        #expect(placed.values.filter { $0 == "node-1" }.count == 3)
        #expect(placed.values.filter { $0 == "node-2" }.count == 1)
    }

    @Test func placementPrefersHostsThatHoldTheTemplate() {
        var fleet = Fleet()
        fleet.manifest.templates[0].spec.precopy = Precopy(policy: .onDemand)
        fleet.addSet("web", replicas: 1)
        fleet.holdTemplate(on: ["node-3"])
        let plan = fleet.plan()
        #expect(plan.createdOn == ["web-0": "node-3"])
        #expect(plan.actions("copy-template").isEmpty)
    }

    @Test func eagerPrecopyGoesToEveryEligibleHostAndOnDemandOnlyWhereNeeded() {
        var eager = Fleet(hosts: [("node-1", ["rack": "a"]), ("node-2", ["rack": "a"]), ("node-3", ["rack": "b"])])
        eager.addSet("web", replicas: 1, placement: Placement(hostSelector: LabelSelector(["rack": "a"])))
        #expect(Set(eager.plan().actions("copy-template").map(\.host)) == ["node-1", "node-2"])

        var onDemand = eager
        onDemand.manifest.templates[0].spec.precopy = Precopy(policy: .onDemand)
        #expect(onDemand.plan().actions("copy-template").map(\.host) == ["node-1"])

        var selected = eager
        selected.manifest.templates[0].spec.precopy = Precopy(policy: .eager, hostSelector: LabelSelector(["rack": "b"]))
        #expect(Set(selected.plan().actions("copy-template").map(\.host)) == ["node-1", "node-2", "node-3"])
    }

    @Test func anUnreachableHostsVMsAreNotRecreatedElsewhere() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 3)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        fleet.run("web", ordinal: 0, on: "node-1")
        fleet.run("web", ordinal: 1, on: "node-2")
        fleet.observed["node-3"] = ObservedHost(name: "node-3", unreachable: "connection refused")
        let plan = fleet.plan()
        #expect(plan.isEmpty)
        #expect(plan.unschedulable.map(\.vm) == ["web-2"])
        #expect(plan.unschedulable[0].reason.contains("node-3"))
        #expect(plan.notes.contains { $0.contains("node-3 is unreachable (connection refused)") })
    }

    @Test func aVMTheDarkHostDidNotHoldWhenLastSeenIsMadeElsewhere() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 3)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        fleet.run("web", ordinal: 0, on: "node-1")
        fleet.observed["node-3"] = ObservedHost(name: "node-3", unreachable: "connection refused", mayHold: ["web-1"])
        let plan = fleet.plan()
        // web-1 may be on node-3: unknown, not made again. web-2 was on no host: made.
        #expect(plan.unschedulable.map(\.vm) == ["web-1"])
        #expect(plan.actions("define").map(\.summary) == ["define web-2 on node-2"] || plan.actions("define").map(\.summary) == ["define web-2 on node-1"],
                "\(plan.actions.map(\.summary))")
    }

    @Test func aVMWhoseDiskWasRemovedBehindDrovesBackIsReplaced() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 2, maxUnavailable: 1)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        fleet.run("web", ordinal: 0, on: "node-1")
        fleet.run("web", ordinal: 1, on: "node-2")
        fleet.observed["node-2"]!.vms["web-1"]!.missingVolumes = ["drove-vm-web-1.seed.iso"]
        let summaries = fleet.plan().actions.map(\.summary)
        #expect(summaries.contains("remove web-1 from node-2"), "\(summaries)")
        #expect(summaries.contains { $0.hasPrefix("define web-1 on") }, "\(summaries)")
        #expect(!summaries.contains { $0.contains("web-0") })
    }

    @Test func aVMOnTwoHostsKeepsOne() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 1)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        fleet.run("web", ordinal: 0, on: "node-1", state: .stopped)
        fleet.run("web", ordinal: 0, on: "node-2", state: .running)
        let plan = fleet.plan()
        #expect(plan.actions.map(\.summary) == ["remove web-0 from node-1", "delete volume drove-vm-web-0.qcow2 on node-1"])
    }

    @Test func removingASetRemovesItsVMsDisksAndDeclaredTemplates() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 2)
        fleet.holdTemplate(on: ["node-1", "node-2", "node-3"])
        fleet.holdTemplate(on: ["node-1"], digest: "someone-elses")
        fleet.run("web", ordinal: 0, on: "node-1")
        fleet.run("web", ordinal: 1, on: "node-2")
        fleet.manifest.vmSets.removeAll()
        let plan = fleet.plan(removing: ["web"], prune: .declared)
        #expect(Set(plan.removed) == ["web-0", "web-1"])
        let prunes = plan.actions("delete-template")
        #expect(Set(prunes.map(\.host)) == ["node-1", "node-2", "node-3"])
        let onNode1 = prunes.first { $0.host == "node-1" }!
        #expect(onNode1.dependsOn.map { plan.action($0).verb } == ["delete-volume"])
        #expect(plan.actions("copy-template").isEmpty)
    }

    @Test func strayDisksOfManagedSetsAreDeletedOthersLeftAlone() {
        var fleet = Fleet(hosts: [("node-1", [:])])
        fleet.addSet("web", replicas: 0)
        fleet.observed["node-1"]!.strayVolumes = ["drove-vm-web-7.qcow2", "drove-vm-other-1.qcow2"]
        let plan = fleet.plan()
        #expect(plan.actions.map(\.summary) == ["delete volume drove-vm-web-7.qcow2 on node-1"])
    }

    @Test func aDiskBeingRecreatedIsNotAlsoDeletedAsStray() {
        var fleet = Fleet(hosts: [("node-1", [:])])
        fleet.addSet("web", replicas: 1)
        fleet.holdTemplate(on: ["node-1"])
        // A create that was cut off between making the disk and defining the domain.
        fleet.observed["node-1"]!.strayVolumes = ["drove-vm-web-0.qcow2"]
        let plan = fleet.plan()
        #expect(plan.actions("delete-volume").isEmpty)
        #expect(plan.createdOn == ["web-0": "node-1"])
    }

    @Test func aPartialTemplateCopyIsCopiedAgainBeforeUse() {
        var fleet = Fleet(hosts: [("node-1", [:])])
        fleet.addSet("web", replicas: 1)
        fleet.observed["node-1"]!.templates[Fleet.digest] = TemplateCopy(digest: Fleet.digest, volume: "v", complete: false)
        let plan = fleet.plan()
        let copy = plan.actions("copy-template")
        #expect(copy.count == 1)
        #expect(plan.actions("create-disk").first?.dependsOn == [copy[0].id])
    }

    @Test func setsOfOtherManifestsAreLeftAlone() {
        var fleet = Fleet(hosts: [("node-1", [:])])
        fleet.addSet("web", replicas: 0)
        fleet.holdTemplate(on: ["node-1"])
        fleet.addSet("theirs", replicas: 1)
        fleet.run("theirs", ordinal: 0, on: "node-1")
        fleet.manifest.vmSets.removeAll { $0.metadata.name == "theirs" }
        let plan = fleet.plan()
        #expect(plan.isEmpty)
        #expect(plan.notes.contains { $0.contains("theirs") })
    }

    @Test func autoDomainTypeFollowsTheHostsCapabilities() {
        var fleet = Fleet(hosts: [("node-1", [:])])
        fleet.manifest.hosts[0].spec.domainType = .auto
        fleet.observed["node-1"]!.offersKVM = true
        fleet.addSet("web", replicas: 1)
        guard case let .createDisk(vm) = fleet.plan().actions("create-disk")[0].kind else { Issue.record(); return }
        #expect(vm.domainType == "kvm")
    }

    @Test func aTemplateThatCouldNotBeReadIsReported() {
        var fleet = Fleet()
        fleet.addSet("web", replicas: 2)
        fleet.images = [:]
        let plan = fleet.plan()
        #expect(plan.isEmpty)
        #expect(plan.unschedulable.map(\.reason) == ["template tiny could not be read", "template tiny could not be read"])
    }
}
