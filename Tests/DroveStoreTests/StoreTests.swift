import DroveManifest
@testable import DroveStore
import Foundation
import Testing

@Suite("Opening, reopening and watching the store")
struct StoreTests {
    @Test("a store reopened has everything, and its ids go on", arguments: TestEngine.allCases)
    func reopen(_ engine: TestEngine) async throws {
        try await withStorePlace(engine) { place in
            let clock = TestClock()
            let options = StoreOptions(clock: clock.function)
            do {
                let store = try await place.open(options)
                let path = store.path
                _ = try await store.apply(try applied(fleetYAML(replicas: 4)))
                try await store.delete(kind: .host, name: "node-a")
                try await store.setStatus(StatusUpdate(
                    observedGeneration: 1, conditions: [.ready: ConditionReport(status: .true, reason: "AllReplicasReady")],
                    counters: [StatusCounter.ready: 4]), for: web)
                try await store.appendEvent(NewEvent(object: web, host: "node-a", type: .warning, reason: "CloneFailed", message: "boom"))
                try store.close()
                await #expect(throws: StoreError.closed(path: path)) { try await store.objects() }
            }
            clock.advance(seconds: 5)
            let store = try await place.open(options)
            defer { try? store.close() }
            let state = try await store.desiredState(policy: .standard)
            #expect(state.manifest.vmSet(named: "web")?.spec.replicas == 4)
            #expect(state.manifest.templates.map(\.metadata.name) == ["alpine"])
            #expect(state.deleting.map(\.reference) == [nodeA])
            let status = try #require(try await store.status(kind: .vmSet, name: "web"))
            #expect(status.counters == ["ready": 4])
            #expect(status.condition(.ready)?.lastTransitionTime == clock.date.addingTimeInterval(-5))
            let events = try await store.events()
            #expect(events.map(\.reason) == ["CloneFailed"])
            #expect(events.first?.type == .warning)
            #expect(try await store.appendEvent(NewEvent(object: web, reason: "Created", message: "")).id == 2)
            #expect(try await store.apply(try applied(fleetYAML(replicas: 4))) == [.configured(generation: 1), .unchanged, .unchanged])
        }
    }

    @Test("the file is in WAL mode with synchronous NORMAL, and carries Drove's application id")
    func pragmas() async throws {
        try await withStore { store, _ async throws in
            #expect(try await store.fetchForTesting("PRAGMA journal_mode") == "wal")
            #expect(try await store.fetchForTesting("PRAGMA synchronous") == "1")
            #expect(try await store.fetchForTesting("PRAGMA foreign_keys") == "1")
            #expect(try await store.fetchForTesting("PRAGMA application_id") == String(Schema.applicationID))
        }
    }

    @Test("opening a file that is not a database names the path")
    func garbageFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/drove.sqlite"
            try Data(String(repeating: "this is not a database ", count: 200).utf8).write(to: URL(fileURLWithPath: path))
            do throws(StoreError) {
                _ = try Store(path: path)
                Issue.record("opened a garbage file")
            } catch {
                guard case let .notAStore(errorPath, _) = error else {
                    Issue.record("unexpected error \(error)")
                    return
                }
                #expect(errorPath == path)
                #expect(error.description.hasPrefix(path + ": not a Drove store"))
            }
        }
    }

    @Test("opening a file written by a newer Drove names the path and the unknown migration")
    func newerSchema() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/drove.sqlite"
            let store = try Store(path: path)
            try await store.executeForTesting("INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
            try store.close()
            #expect(throws: StoreError.newerSchema(path: path, unknownMigrations: ["v99-from-the-future"])) {
                _ = try Store(path: path)
            }
        }
    }

    @Test("opening some other SQLite database is refused, and it is left as it was")
    func foreignDatabase() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/other.sqlite"
            let store = try Store(path: path)
            // Make it look like somebody else's: another application id.
            try await store.executeForTesting("PRAGMA application_id = 42")
            try store.close()
            do throws(StoreError) {
                _ = try Store(path: path)
                Issue.record("opened a foreign database")
            } catch {
                guard case let .notAStore(errorPath, reason) = error else {
                    Issue.record("unexpected error \(error)")
                    return
                }
                #expect(errorPath == path)
                #expect(reason.contains("0x0000002a"))
            }
        }
    }

    @Test("the change stream delivers applies, deletions, status and events, in commit order, and nothing for no-ops",
          arguments: TestEngine.allCases)
    func changeStream(_ engine: TestEngine) async throws {
        try await withStorePlace(engine) { place in
            let store = try await place.open(StoreOptions())
            let changes = store.changes()
            _ = try await store.apply(try applied(fleetYAML()))
            _ = try await store.apply(try applied(fleetYAML()))   // unchanged: nothing
            // Refused inside the transaction, after web was changed in it: rolled back, nothing.
            let dangling = AppliedObject(
                object: .vmSet(VMSet(metadata: ObjectMeta(name: "db"), spec: VMSetSpec(replicas: 1, template: "nope"))),
                manifestText: vmSetYAML("db", replicas: 1, template: "nope"), baseDirectory: manifestDirectory)
            await #expect(throws: StoreError.danglingReference(ObjectReference(kind: .vmSet, name: "db"), template: "nope")) {
                try await store.apply([try applied(fleetYAML(replicas: 9))[2], dangling])
            }
            let update = StatusUpdate(observedGeneration: 1, conditions: [.ready: ConditionReport(status: .true, reason: "AllReplicasReady")])
            try await store.setStatus(update, for: web)
            try await store.setStatus(update, for: web)           // same status: nothing
            let event = try await store.appendEvent(NewEvent(object: web, reason: "Created", message: "created web-0"))
            try await store.delete(kind: .vmSet, name: "web")
            try await store.markPruned(kind: .vmSet, name: "web")
            try store.close()                                     // ends the stream

            var received: [StoreChange] = []
            for await change in changes { received.append(change) }
            #expect(received == [
                .objectApplied(nodeA, generation: 1), .objectApplied(alpine, generation: 1), .objectApplied(web, generation: 1),
                .statusChanged(web), .eventAppended(event), .objectDeletionRequested(web), .objectPruned(web),
            ])
            #expect(event.id == 1)
        }
    }

    @Test("a watcher that falls too far behind gets what was buffered, then the end", arguments: TestEngine.allCases)
    func laggingWatcherEnds(_ engine: TestEngine) async throws {
        try await withStore(engine, changeBufferSize: 2) { store, _ in
            let changes = store.changes()
            let appended = try await store.appendEvents((1...5).map {
                NewEvent(object: web, reason: "Created", message: "created web-\($0)")
            })
            store.deliverCommittedChangesForTesting()   // all 5 offered before the watcher reads any
            var received: [StoreChange] = []
            for await change in changes { received.append(change) }   // ends without close
            #expect(received == appended.prefix(2).map(StoreChange.eventAppended))
            // A new watcher works.
            let again = store.changes()
            let event = try await store.appendEvent(NewEvent(object: web, reason: "Created", message: "late"))
            var iterator = again.makeAsyncIterator()
            #expect(await iterator.next() == .eventAppended(event))
        }
    }

    @Test("a change stream asked for after close ends at once", arguments: TestEngine.allCases)
    func changesAfterClose(_ engine: TestEngine) async throws {
        try await withStorePlace(engine) { place in
            let store = try await place.open(StoreOptions())
            try store.close()
            var iterator = store.changes().makeAsyncIterator()
            #expect(await iterator.next() == nil)
        }
    }
}
