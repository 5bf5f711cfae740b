import DroveAPI
import DroveController
import DroveGitOps
import DroveManifest
import DroveStore
import DroveTestSupport
import Foundation
import Testing

/// GitSync over real git repositories the tests make (served over file://) and in-memory
/// hosts: commits reach the fleet, bad commits change nothing, ownership and prune hold.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct GitSyncTests {
    @Test("a commit adds a set and its VMs appear; a change rolls out within maxUnavailable; removed, it is pruned")
    func addChangeRemoveWithPrune() async throws {
        let hosts = (1...2).map { FakeHost(name: "node-\($0)", delay: .milliseconds(15)) }
        let harness = try GitOpsHarness(hosts: hosts)
        await harness.run {
            let upstream = try Upstream(in: harness.repositories)
            try upstream.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML()].joined(separator: "\n---\n"))
            try upstream.write("manifests/web.yaml", harness.setYAML("web", replicas: 3))
            try upstream.write("README.md", "not a manifest")
            let first = try upstream.commit("web: 3 VMs")
            try await harness.apply([harness.sourceYAML(url: upstream.url)])

            try await harness.wait("web's 3 VMs run") { harness.vms(of: "web").filter { $0.state == .running }.count == 3 }
            try await harness.wait("the source converged on the first commit") {
                let git = await harness.git()
                return git?.appliedRevision == first && git?.converged == true
            }
            let web = try #require(await harness.object(.vmSet, "web"))
            #expect(web.source == "fleet" && web.revision == first)
            #expect(await harness.ready()?.reason == ConditionReason.revisionApplied.rawValue)
            #expect(await harness.git()?.objects == 4)
            #expect(await harness.git()?.fetchedRevision == first)
            let status = try await harness.store.status(kind: .gitSource, name: "fleet")
            #expect(status?.condition(.progressing)?.reason == ConditionReason.converged.rawValue)

            // A change rolls out; at every observation at most maxUnavailable (1) of 3 is down.
            try upstream.write("manifests/web.yaml", harness.setYAML("web", replicas: 3, memory: "80Mi"))
            let second = try upstream.commit("web: 80Mi")
            let asked = try #require(try await harness.gitSync.requestSync("fleet"))
            var fewest = 3, observations = 0, sawWaiting = false
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                let running = harness.vms(of: "web").filter { $0.state == .running }.count
                fewest = min(fewest, running)
                observations += 1
                if let git = await harness.git(), let last = git.lastSyncAt, last >= asked {
                    if git.waitingFor == ["web"] {
                        let progressing = try await harness.store.status(kind: .gitSource, name: "fleet")?.condition(.progressing)
                        sawWaiting = sawWaiting || progressing?.reason == ConditionReason.waitingForFleet.rawValue
                    }
                    let updated = harness.vms(of: "web").allSatisfy { $0.memoryBytes == 80 << 20 }
                    if git.appliedRevision == second, git.converged, updated, harness.vms(of: "web").count == 3 { break }
                }
                try await Task.sleep(for: .milliseconds(2))
            }
            #expect(harness.vms(of: "web").count == 3 && harness.vms(of: "web").allSatisfy { $0.memoryBytes == 80 << 20 }, "rolled out")
            #expect(fewest >= 2, "\(3 - fewest) of 3 were down at once (maxUnavailable 1), over \(observations) observations")
            #expect(sawWaiting, "the source said it waited for web while it rolled out")
            #expect(await harness.git()?.converged == true)

            // Removed from the repository, with prune: the set goes, and its VMs.
            try upstream.remove("manifests/web.yaml")
            let third = try upstream.commit("no more web")
            try await harness.sync(until: third)
            try await harness.wait("web pruned, its VMs gone") { await harness.object(.vmSet, "web") == nil && harness.vms(of: "web").isEmpty }
            try await harness.wait("converged without web") { await harness.git()?.converged == true }
            #expect(await harness.git()?.objects == 3)
            let events = try await harness.store.events(after: 0, limit: 1000, object: ObjectReference(kind: .gitSource, name: "fleet"))
            #expect(events.filter { $0.reason == EventReason.revisionApplied.rawValue }.count == 3)
            #expect(events.last?.message.contains("pruned VMSet/web") == true, "\(events.map(\.message))")
        }
    }

    @Test("without prune, a set removed from the repository stays, with its VMs")
    func removeWithoutPrune() async throws {
        let harness = try GitOpsHarness(hosts: [FakeHost(name: "node-1")])
        await harness.run {
            let upstream = try Upstream(in: harness.repositories)
            try upstream.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 2)]
                .joined(separator: "\n---\n"))
            try upstream.commit("web")
            try await harness.apply([harness.sourceYAML(url: upstream.url, prune: false)])
            try await harness.wait("web ready") { await harness.isReady("web") }
            try upstream.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML()].joined(separator: "\n---\n"))
            let second = try upstream.commit("no web")
            try await harness.sync(until: second)
            #expect(await harness.git()?.appliedRevision == second)
            try await Task.sleep(for: .milliseconds(300))
            let web = await harness.object(.vmSet, "web")
            #expect(web != nil && web?.deletionRequested == false, "not pruned")
            #expect(harness.vms(of: "web").count == 2)
        }
    }

    @Test("a broken commit changes nothing on any host and is reported with file:line:column; the next good one recovers")
    func brokenCommit() async throws {
        let harness = try GitOpsHarness(hosts: [FakeHost(name: "node-1")])
        await harness.run {
            let upstream = try Upstream(in: harness.repositories)
            try upstream.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML()].joined(separator: "\n---\n"))
            try upstream.write("manifests/web.yaml", harness.setYAML("web", replicas: 2))
            let good = try upstream.commit("web")
            try await harness.apply([harness.sourceYAML(url: upstream.url)])
            try await harness.wait("converged") { await harness.git()?.converged == true }
            let before = harness.performed()

            // Two files go wrong, one of them a new set that would otherwise be created.
            try upstream.write("manifests/web.yaml", harness.setYAML("web", replicas: 2).replacingOccurrences(of: "replicas: 2", with: "replicas: -2"))
            try upstream.write("manifests/db.yaml", harness.setYAML("db", replicas: 1).replacingOccurrences(of: "template: tiny", with: "template: tiny, colour: red"))
            let broken = try upstream.commit("broken")
            try await harness.sync(until: broken)

            let git = try #require(await harness.git())
            #expect(git.appliedRevision == good && git.attemptedRevision == broken)
            #expect(await harness.ready()?.status == .false)
            #expect(await harness.ready()?.reason == ConditionReason.invalidRevision.rawValue)
            #expect(git.attemptError?.contains("revision \(broken.prefix(12)) has 2 errors") == true, "\(git.attemptError ?? "")")
            #expect(git.diagnostics?.map(\.diagnostic.description) == [
                "manifests/db.yaml:4:38: VMSet/db: spec.colour: unknown field \"colour\" (allowed: replicas, template, clone, resources, networks, cloudInit, readiness, readinessTimeout, placement, updateStrategy, runStrategy, start)",
                "manifests/web.yaml:4:19: VMSet/web: spec.replicas: -2 is out of range 0..10000",
            ])
            try await Task.sleep(for: .milliseconds(300))
            #expect(harness.performed() == before, "nothing happened on any host")
            #expect(await harness.object(.vmSet, "db") == nil)
            #expect(try await harness.store.status(kind: .vmSet, name: "web")?.observedGeneration == 1)
            let refusals = try await harness.store.events(after: 0, limit: 1000, object: ObjectReference(kind: .gitSource, name: "fleet"))
                .filter { $0.reason == EventReason.revisionRefused.rawValue }
            #expect(refusals.count == 1 && refusals[0].message.contains("manifests/web.yaml:4:19"), "\(refusals.map(\.message))")

            // Asked again, the same broken revision is not reported twice.
            try await harness.sync(until: broken)
            #expect(try await harness.store.events(after: 0, limit: 1000, object: ObjectReference(kind: .gitSource, name: "fleet"))
                .filter { $0.reason == EventReason.revisionRefused.rawValue }.count == 1)

            try upstream.write("manifests/web.yaml", harness.setYAML("web", replicas: 3))
            try upstream.remove("manifests/db.yaml")
            let fixed = try upstream.commit("fixed")
            try await harness.sync(until: fixed)
            try await harness.wait("recovered: 3 VMs, converged") {
                harness.vms(of: "web").count == 3 ? await harness.git()?.converged == true : false
            }
            let recovered = try #require(await harness.git())
            #expect(recovered.appliedRevision == fixed && recovered.attemptError == nil && recovered.diagnostics == nil)
            #expect(await harness.ready()?.status == .true)
        }
    }

    @Test("objects applied by hand survive pruning; hand changes to owned objects are refused")
    func handAppliedSurvive() async throws {
        let harness = try GitOpsHarness(hosts: [FakeHost(name: "node-1")])
        await harness.run {
            try await harness.apply([harness.hostsYAML(), harness.templateYAML(), harness.setYAML("db", replicas: 1)])
            let upstream = try Upstream(in: harness.repositories)
            // A revision is validated on its own, as drove validate would: api's Template is in it.
            try upstream.write("manifests/web.yaml", harness.setYAML("api", replicas: 1).replacingOccurrences(of: "template: tiny", with: "template: tiny2")
                + "\n---\n" + harness.templateYAML().replacingOccurrences(of: "name: tiny", with: "name: tiny2"))
            let first = try upstream.commit("api")
            try await harness.apply([harness.sourceYAML(url: upstream.url)])
            try await harness.wait("api applied") { await harness.git()?.appliedRevision == first }
            #expect(await harness.object(.vmSet, "api")?.source == "fleet")

            do {
                try await harness.apply([harness.setYAML("api", replicas: 5).replacingOccurrences(of: "template: tiny", with: "template: tiny2"),
                                         harness.templateYAML().replacingOccurrences(of: "name: tiny", with: "name: tiny2")])
                Issue.record("a hand apply changed an object the source owns")
            } catch let error as StoreError {
                #expect(error.description.contains("owned by GitSource/fleet"), "\(error)")
            }

            try upstream.write("manifests/web.yaml", harness.templateYAML().replacingOccurrences(of: "name: tiny", with: "name: tiny2"))
            let second = try upstream.commit("no api")
            try await harness.sync(until: second)
            try await harness.wait("api pruned") { await harness.object(.vmSet, "api") == nil }
            #expect(await harness.object(.vmSet, "db") != nil && harness.vms(of: "db").count == 1, "db, applied by hand, survives")
            #expect(await harness.object(.template, "tiny")?.source == nil)
        }
    }

    @Test("two sources claiming one object: the second is refused with a clear message, and applies nothing")
    func twoSourcesOneObject() async throws {
        let harness = try GitOpsHarness(hosts: [FakeHost(name: "node-1")])
        await harness.run {
            let a = try Upstream(in: harness.repositories, name: "a"), b = try Upstream(in: harness.repositories, name: "b")
            try a.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 1)].joined(separator: "\n---\n"))
            let fromA = try a.commit("web")
            try b.write("manifests/fleet.yaml", [harness.templateYAML(), harness.setYAML("web", replicas: 2), harness.setYAML("other", replicas: 1)]
                .joined(separator: "\n---\n"))
            let fromB = try b.commit("web too")
            try await harness.apply([harness.sourceYAML("a", url: a.url)])
            try await harness.wait("a applied") { await harness.git("a")?.appliedRevision == fromA }
            try await harness.apply([harness.sourceYAML("b", url: b.url)])
            try await harness.wait("b refused") { await harness.git("b")?.attemptedRevision == fromB }

            let ready = try #require(await harness.ready("b"))
            #expect(ready.status == .false && ready.reason == ConditionReason.ownershipConflict.rawValue)
            #expect(ready.message.contains("Template/tiny is owned by GitSource/a; VMSet/web is owned by GitSource/a; a source never overwrites"),
                    "\(ready.message)")
            #expect(await harness.git("b")?.appliedRevision == nil)
            #expect(await harness.object(.vmSet, "other") == nil, "nothing of b's revision applied")
            #expect(await harness.object(.vmSet, "web")?.source == "a")
            #expect(harness.vms(of: "web").count == 1)
        }
    }

    @Test("a revision that would prune everything is refused unless allowEmpty; a path that is gone is reported")
    func allowEmpty() async throws {
        let harness = try GitOpsHarness(hosts: [FakeHost(name: "node-1")])
        await harness.run {
            // Hosts by hand: a set and its host deleted together leave its VMs behind (see
            // docs/gitops.md, Known limits).
            try await harness.apply([harness.hostsYAML()])
            let upstream = try Upstream(in: harness.repositories)
            try upstream.write("manifests/fleet.yaml", [harness.templateYAML(), harness.setYAML("web", replicas: 1)].joined(separator: "\n---\n"))
            try upstream.commit("web")
            try await harness.apply([harness.sourceYAML(url: upstream.url)])
            try await harness.wait("web ready") { await harness.isReady("web") }

            try upstream.write("manifests/fleet.yaml", "# nothing here any more\n")
            let empty = try upstream.commit("empty")
            try await harness.sync(until: empty)
            #expect(await harness.ready()?.reason == ConditionReason.pruneRefused.rawValue)
            #expect(await harness.ready()?.message.contains("would prune all 2 objects") == true)
            #expect(await harness.object(.vmSet, "web")?.deletionRequested == false)

            try upstream.remove("manifests/fleet.yaml")
            let gone = try upstream.commit("no manifests directory")
            try await harness.sync(until: gone)
            #expect(await harness.ready()?.reason == ConditionReason.invalidRevision.rawValue)
            #expect(await harness.ready()?.message.contains("has no \"manifests\"") == true)

            try await harness.apply([harness.sourceYAML(url: upstream.url, path: ".", extra: "  allowEmpty: true")])
            try await harness.wait("pruned once allowed") { await harness.object(.vmSet, "web") == nil }
            #expect(await harness.git()?.appliedRevision == gone)
            #expect(harness.vms(of: "web").isEmpty)
        }
    }

    @Test("a force-push is applied without deleting anything; a branch that disappears changes nothing; both say so")
    func forcePushAndVanishedBranch() async throws {
        let harness = try GitOpsHarness(hosts: [FakeHost(name: "node-1")])
        await harness.run {
            let upstream = try Upstream(in: harness.repositories)
            try upstream.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 1)]
                .joined(separator: "\n---\n"))
            let base = try upstream.commit("web")
            try upstream.write("manifests/db.yaml", harness.setYAML("db", replicas: 1))
            let withDB = try upstream.commit("db")
            try await harness.apply([harness.sourceYAML(url: upstream.url)])
            // The sets can be ready a moment before the source's status says which revision it
            // applied (a separate write): wait for both.
            try await harness.wait("db and web ready, the revision with db applied") {
                let db = await harness.isReady("db"), web = await harness.isReady("web")
                let applied = await harness.git()?.appliedRevision
                return db && web && applied == withDB
            }
            #expect(await harness.git()?.appliedRevision == withDB)

            // History rewritten: back to the first commit, then a different second one without db.
            try git(["reset", "--quiet", "--hard", base], in: upstream.work)
            try upstream.write("manifests/web.yaml", "# web's notes\n")
            let rewritten = try upstream.commit("rewritten", push: false)
            try git(["push", "--quiet", "--force", "origin", "HEAD:refs/heads/main"], in: upstream.work)
            try await harness.sync(until: rewritten)
            #expect(await harness.git()?.appliedRevision == rewritten)
            let db = try #require(await harness.object(.vmSet, "db"), "nothing deleted")
            #expect(!db.deletionRequested && db.source == nil, "let go of: kept, no longer owned")
            #expect(harness.vms(of: "db").count == 1)
            let warning = try await harness.store.events(after: 0, limit: 1000, object: ObjectReference(kind: .gitSource, name: "fleet"))
                .first { $0.reason == EventReason.historyRewritten.rawValue }
            #expect(warning?.message.contains("\(rewritten.prefix(12)) does not descend from \(withDB.prefix(12))") == true)
            #expect(warning?.message.contains("VMSet/db") == true)

            // The branch disappears.
            try git(["update-ref", "-d", "refs/heads/main"], in: upstream.origin)
            let asked = try #require(try await harness.gitSync.requestSync("fleet"))
            try await harness.wait("the missing branch reported") {
                guard let git = await harness.git(), let last = git.lastSyncAt, last >= asked else { return false }
                return await harness.ready()?.reason == ConditionReason.refNotFound.rawValue
            }
            let message = await harness.ready()?.message ?? ""
            #expect(message.contains("branch main is not in \(upstream.url)") && message.contains("keeping revision \(rewritten.prefix(12)) applied, nothing deleted"),
                    "\(message)")
            #expect(await harness.git()?.appliedRevision == rewritten)
            #expect(await harness.object(.vmSet, "web")?.deletionRequested == false && harness.vms(of: "web").count == 1)
        }
    }

    @Test("stopped, and started again over the same store and mirrors, it converges on what was pushed meanwhile at once")
    func restart() async throws {
        let harness = try GitOpsHarness(hosts: [FakeHost(name: "node-1")])
        await harness.run {
            let upstream = try Upstream(in: harness.repositories)
            try upstream.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 1)]
                .joined(separator: "\n---\n"))
            try upstream.commit("web")
            try await harness.apply([harness.sourceYAML(url: upstream.url)])
            try await harness.wait("converged") { await harness.git()?.converged == true }
            await harness.halt()

            // Pushed while the controller is down; the interval (1h) is far off.
            try upstream.write("manifests/db.yaml", harness.setYAML("db", replicas: 2))
            let next = try upstream.commit("db")
            harness.start()
            try await harness.wait("synced and converged after the restart", timeout: .seconds(10)) {
                let git = await harness.git()
                return git?.appliedRevision == next && git?.converged == true
            }
            #expect(harness.vms(of: "db").count == 2)
            #expect(FileManager.default.fileExists(atPath: harness.directory.appendingPathComponent("state/gitsources/fleet.git/HEAD").path),
                    "the same mirror, fetched into")
        }
    }

    @Test("deleted, a source lets go of its objects and its mirror goes; suspended, it fetches nothing")
    func deleteAndSuspend() async throws {
        let harness = try GitOpsHarness(hosts: [FakeHost(name: "node-1")])
        await harness.run {
            let upstream = try Upstream(in: harness.repositories)
            try upstream.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML(), harness.setYAML("web", replicas: 1)]
                .joined(separator: "\n---\n"))
            let first = try upstream.commit("web")
            try await harness.apply([harness.sourceYAML(url: upstream.url)])
            try await harness.wait("applied") { await harness.git()?.appliedRevision == first }

            try await harness.apply([harness.sourceYAML(url: upstream.url, extra: "  suspend: true")])
            try await harness.wait("suspended") {
                (try? await harness.store.status(kind: .gitSource, name: "fleet"))?.condition(.progressing)?.reason == ConditionReason.suspended.rawValue
            }
            try upstream.write("manifests/db.yaml", harness.setYAML("db", replicas: 1))
            let later = try upstream.commit("db")
            _ = try await harness.gitSync.requestSync("fleet")
            try await Task.sleep(for: .milliseconds(300))
            #expect(await harness.git()?.fetchedRevision == first, "nothing fetched while suspended")
            #expect(await harness.object(.vmSet, "db") == nil)

            try await harness.apply([harness.sourceYAML(url: upstream.url)])
            try await harness.wait("resumed") { await harness.git()?.appliedRevision == later }

            try await harness.store.delete(kind: .gitSource, name: "fleet")
            try await harness.wait("the source pruned") { await harness.object(.gitSource, "fleet") == nil }
            #expect(await harness.object(.vmSet, "web")?.source == nil && harness.vms(of: "web").count == 1)
            try await harness.wait("its mirror removed") {
                !FileManager.default.fileExists(atPath: harness.directory.appendingPathComponent("state/gitsources/fleet.git").path)
            }
        }
    }

    @Test("a revision whose pruning would leave a hand-applied set without its Template is refused: ApplyFailed, nothing changed")
    func pruneStillInUse() async throws {
        let harness = try GitOpsHarness(hosts: [FakeHost(name: "node-1")])
        await harness.run {
            let upstream = try Upstream(in: harness.repositories)
            try upstream.write("manifests/fleet.yaml", [harness.hostsYAML(), harness.templateYAML()].joined(separator: "\n---\n"))
            try upstream.commit("hosts and tiny")
            try await harness.apply([harness.sourceYAML(url: upstream.url)])
            try await harness.wait("applied") { await harness.git()?.objects == 2 }
            // By hand, naming the source's Template (as the API allows: it is stored).
            try await harness.apply([harness.setYAML("db", replicas: 1)], alongside: [harness.templateYAML()])
            try upstream.write("manifests/fleet.yaml", harness.hostsYAML())
            let second = try upstream.commit("no tiny")
            try await harness.sync(until: second)
            let ready = try #require(await harness.ready())
            #expect(ready.reason == ConditionReason.applyFailed.rawValue)
            #expect(ready.message.contains("Template/tiny: still used by VMSet/db"), "\(ready.message)")
            #expect(await harness.object(.template, "tiny")?.deletionRequested == false)
        }
    }

    /// Each GitSource reason is asserted by a test of this module (FetchFailed by
    /// CredentialsTests); with ControllerCoreTests' list they make every reason, so a new one
    /// without a test fails here or there.
    @Test func everyGitSourceReasonIsTested() {
        let tested: Set<ConditionReason> = [
            .revisionApplied, .invalidRevision, .ownershipConflict, .pruneRefused, .refNotFound, .waitingForFleet, .suspended,
            .fetchFailed, .applyFailed,
        ]
        let controllers: Set<ConditionReason> = [
            .allReplicasReady, .replicasNotReady, .rollingOut, .hostUnreachable, .templateUnreadable, .unschedulable, .deleting,
            .minimumReplicasAvailable, .tooFewReplicasAvailable, .reconciling, .waitingForGuests, .converged, .copying,
            .noProblems, .actionsFailed, .copyFailed, .connected, .unreachable, .readable, .hostCheckFailed,
        ]
        #expect(tested == Set(ConditionReason.allCases).subtracting(controllers))
    }
}
