import DroveManifest
@testable import DroveStore
import Foundation
import GRDB
import Testing

/// Objects a GitSource applies: owned by it, applied a revision at a time in one transaction,
/// pruned only when it owns them, never over what it does not own.
@Suite("Revisions of a GitSource: ownership, prune, all or nothing")
struct RevisionTests {
    func revision(_ yaml: String, source: String = "fleet", revision: String = "r1", prune: Bool = true, allowEmpty: Bool = false,
                  rewritten: Bool = false) throws -> SourceRevision {
        SourceRevision(source: source, revision: revision, objects: yaml.isEmpty ? [] : try applied(yaml), prune: prune,
                       allowEmpty: allowEmpty, rewritten: rewritten)
    }

    @Test("a revision's objects carry the source and revision; the next revision moves them all", arguments: TestEngine.allCases)
    func ownership(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            let first = try await store.applyRevision(try revision(fleetYAML()))
            #expect(first.results == [nodeA: .created, alpine: .created, web: .created])
            for object in try await store.objects() {
                #expect(object.source == "fleet" && object.revision == "r1", "\(object.reference)")
            }
            // Only the set changes; all three move to r2, and only the set is announced.
            let changes = store.changes()
            let second = try await store.applyRevision(try revision(fleetYAML(replicas: 5), revision: "r2"))
            #expect(second.changed == [web])
            #expect(try await store.objects().allSatisfy { $0.revision == "r2" })
            var iterator = changes.makeAsyncIterator()
            #expect(await iterator.next() == .objectApplied(web, generation: 2))
            #expect(try await store.objects(ownedBy: "fleet").count == 3)
        }
    }

    @Test("prune takes only the source's objects; hand-applied ones survive", arguments: TestEngine.allCases)
    func handAppliedSurvive(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.apply(try applied([templateYAML, vmSetYAML("db", replicas: 1)].joined(separator: "\n---\n")))
            let sourceYAML = [hostYAML, vmSetYAML("web", template: "alpine")].joined(separator: "\n---\n")
            // web names alpine, applied by hand: fine; the source does not declare it.
            _ = try await store.applyRevision(SourceRevision(source: "fleet", revision: "r1", objects: try applied(sourceYAML + "\n---\n" + templateYAML)
                .filter { $0.reference != alpine }, prune: true))
            let result = try await store.applyRevision(try revision(hostYAML, revision: "r2"))
            #expect(result.pruned == [web])
            let state = try await store.desiredState(policy: .standard)
            #expect(state.deleting.map(\.reference) == [web])
            #expect(state.manifest.vmSet(named: "db") != nil, "applied by hand: never pruned")
            #expect(state.manifest.template(named: "alpine") != nil)
        }
    }

    @Test("a revision declaring what it does not own is refused whole, naming every conflict", arguments: TestEngine.allCases)
    func conflicts(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.apply(try applied(templateYAML))
            _ = try await store.applyRevision(try revision(hostYAML, source: "other"))
            await #expect(throws: StoreError.ownershipConflict(source: "fleet", conflicts: [
                OwnershipConflict(reference: nodeA, owner: "other"), OwnershipConflict(reference: alpine, owner: nil),
            ])) {
                try await store.applyRevision(try revision(fleetYAML()))
            }
            #expect(try await store.object(kind: .vmSet, name: "web") == nil, "nothing of the revision applied")
            #expect(try await store.object(kind: .host, name: "node-a")?.source == "other")
            let message = StoreError.ownershipConflict(source: "fleet", conflicts: [OwnershipConflict(reference: nodeA, owner: "other"),
                                                                                   OwnershipConflict(reference: alpine, owner: nil)]).description
            #expect(message.hasPrefix("GitSource/fleet: Host/node-a is owned by GitSource/other; Template/alpine is applied by hand; a source never overwrites"))
        }
    }

    @Test("an owned object cannot be applied or deleted by hand", arguments: TestEngine.allCases)
    func handsOff(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.applyRevision(try revision(fleetYAML()))
            await #expect(throws: StoreError.ownedBySource(nodeA, source: "fleet", revision: "r1")) {
                try await store.apply(try applied(fleetYAML(replicas: 7)))
            }
            await #expect(throws: StoreError.ownedBySource(web, source: "fleet", revision: "r1")) {
                try await store.delete([web])
            }
            #expect(try await store.desiredState(policy: .standard).manifest.vmSet(named: "web")?.spec.replicas == 3)
        }
    }

    @Test("a revision that would prune everything the source owns is refused unless allowEmpty", arguments: TestEngine.allCases)
    func pruneEverything(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.applyRevision(try revision(fleetYAML()))
            await #expect(throws: StoreError.wouldPruneEverything(source: "fleet", revision: "r2", objects: 3)) {
                try await store.applyRevision(try revision("", revision: "r2"))
            }
            #expect(try await store.desiredState(policy: .standard).deleting.isEmpty)
            // Without prune nothing would be deleted, so it is accepted and keeps everything.
            _ = try await store.applyRevision(try revision("", revision: "r2", prune: false))
            #expect(try await store.desiredState(policy: .standard).deleting.isEmpty)
            let result = try await store.applyRevision(try revision("", revision: "r3", allowEmpty: true))
            #expect(Set(result.pruned) == [nodeA, alpine, web])
        }
    }

    @Test("after a rewritten history the dropped objects are let go of, never deleted", arguments: TestEngine.allCases)
    func rewrittenReleases(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.applyRevision(try revision(fleetYAML()))
            let result = try await store.applyRevision(try revision(hostYAML, revision: "r9", rewritten: true))
            #expect(result.pruned.isEmpty && result.released == [alpine, web])
            let state = try await store.desiredState(policy: .standard)
            #expect(state.deleting.isEmpty && state.manifest.vmSet(named: "web") != nil)
            #expect(try await store.object(kind: .vmSet, name: "web")?.source == nil)
            #expect(try await store.object(kind: .host, name: "node-a")?.revision == "r9")
        }
    }

    @Test("all or nothing: a failure after some rows were written leaves none of them", arguments: TestEngine.allCases)
    func allOrNothing(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.applyRevision(try revision(fleetYAML()))
            // 50 new sets and a changed one are written before the dangling reference is found.
            let sets = (0..<50).map { vmSetYAML("s\($0)", replicas: 1) }
            var objects = try applied(([fleetYAML(replicas: 9)] + sets).joined(separator: "\n---\n"))
            objects.append(AppliedObject(object: .vmSet(VMSet(metadata: ObjectMeta(name: "zz"), spec: VMSetSpec(replicas: 1, template: "gone"))),
                                         manifestText: vmSetYAML("zz", replicas: 1, template: "gone"), baseDirectory: manifestDirectory))
            await #expect(throws: StoreError.danglingReference(ObjectReference(kind: .vmSet, name: "zz"), template: "gone")) {
                try await store.applyRevision(SourceRevision(source: "fleet", revision: "r2", objects: objects, prune: true))
            }
            let stored = try await store.objects()
            #expect(stored.map(\.reference) == [nodeA, alpine, web])
            #expect(stored.allSatisfy { $0.revision == "r1" })
            #expect(try await store.desiredState(policy: .standard).manifest.vmSet(named: "web")?.spec.replicas == 3)
        }
    }

    @Test("a GitSource pruned lets go of its objects; a revision may not declare GitSources", arguments: TestEngine.allCases)
    func sourceRemoved(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            let source = """
                apiVersion: drove/v1
                kind: GitSource
                metadata: { name: fleet }
                spec: { url: "https://git.example.org/fleet.git" }
                """
            _ = try await store.apply(try applied(source))
            _ = try await store.applyRevision(try revision(fleetYAML()))
            await #expect(throws: StoreError.self) { try await store.applyRevision(try revision(source.replacingOccurrences(of: "fleet }", with: "nested }"))) }
            try await store.delete(kind: .gitSource, name: "fleet")
            #expect(try await store.markPruned(kind: .gitSource, name: "fleet"))
            #expect(try await store.objects().allSatisfy { $0.source == nil && $0.revision == nil })
            #expect(try await store.objects(ownedBy: "fleet").isEmpty)
        }
    }

    @Test("a v2 store migrates to v3: rows and status kept, owned by nobody, GitSource accepted")
    func migration() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/drove.sqlite"
            do {
                let pool = try DatabasePool(path: path)
                try Schema.migrator.migrate(pool, upTo: "v2: Available condition, status details")
                try await pool.write { db in
                    try db.execute(sql: """
                        INSERT INTO object (kind, name, manifest, baseDirectory, spec, labels, template, generation, createdAt, updatedAt)
                        VALUES ('Template', 'alpine', ?, '/srv/manifests', '{}', '{}', NULL, 1, 1, 1);
                        INSERT INTO status (kind, name, observedGeneration, counters, updatedAt, details) VALUES ('Template', 'alpine', 1, '{}', 1, '{}');
                        """, arguments: [templateYAML])
                }
                try pool.close()
            }
            let store = try Store(path: path)
            defer { try? store.close() }
            let object = try #require(try await store.object(kind: .template, name: "alpine"))
            #expect(object.source == nil && object.revision == nil && object.generation == 1)
            #expect(try await store.status(kind: .template, name: "alpine")?.observedGeneration == 1)
            _ = try await store.apply(try applied("""
                apiVersion: drove/v1
                kind: GitSource
                metadata: { name: fleet }
                spec: { url: "https://git.example.org/fleet.git" }
                """))
            #expect(try await store.objects(kind: .gitSource).map(\.reference.name) == ["fleet"])
            // The status row still belongs to its object: deleting the object takes it along.
            try await store.delete(kind: .template, name: "alpine")
            #expect(try await store.markPruned(kind: .template, name: "alpine"))
            #expect(try await store.status(kind: .template, name: "alpine") == nil)
        }
    }
}
