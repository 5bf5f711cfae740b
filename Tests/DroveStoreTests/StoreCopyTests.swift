import DroveManifest
@testable import DroveStore
import Foundation
import Testing

@Suite("Copying a store (drove store copy)")
struct StoreCopyTests {
    /// Objects (one owned by a source, one being deleted), status, a trimmed event log, a user.
    func fill(_ store: Store) async throws {
        _ = try await store.apply(try applied(fleetYAML(replicas: 4)), author: ChangeAuthor(name: "ada", mayChangeAnyObject: true))
        _ = try await store.apply(try applied(templateYAML + "\n---\n" + vmSetYAML("db", replicas: 1)))
        try await store.delete(kind: .vmSet, name: "db")
        try await store.setStatus(StatusUpdate(observedGeneration: 1, conditions: [.ready: ConditionReport(.true, .allReplicasReady)],
                                               counters: ["ready": 4], details: StatusDetails(readiness: "agent")), for: web)
        for number in 1...5 { try await store.appendEvent(NewEvent(object: web, reason: "Created", message: "web-\(number)")) }
        _ = try await store.addUser(name: "ada", role: .deployer, tokenHash: Array(repeating: 7, count: 32), by: "admin")
    }

    @Test("SQLite to PostgreSQL and back: everything equal, event ids going on, users able to sign in",
          arguments: [(TestEngine.sqlite, TestEngine.postgres), (TestEngine.postgres, TestEngine.sqlite)])
    func roundTrip(_ from: TestEngine, _ to: TestEngine) async throws {
        try await withStorePlace(from) { sourcePlace in
            try await withStorePlace(to) { targetPlace in
                let clock = TestClock()
                let source = try await sourcePlace.open(StoreOptions(eventRetention: EventRetention(maxCount: 3, trimInterval: 1), clock: clock.function))
                defer { try? source.close() }
                try await fill(source)
                let target = try await targetPlace.open(StoreOptions(clock: clock.function))
                defer { try? target.close() }
                try await target.restore(try await source.snapshot())

                #expect(try await target.objects() == source.objects())
                #expect(try await target.status(kind: .vmSet, name: "web") == source.status(kind: .vmSet, name: "web"))
                #expect(try await target.events() == source.events())
                #expect(try await target.events().map(\.id) == [6, 7, 8])   // trimmed to 3: ids 1…5 and the audit events' are gone
                #expect(try await target.users() == source.users())
                #expect(try await target.desiredState(policy: .standard).deleting.map(\.reference) == [ObjectReference(kind: .vmSet, name: "db")])
                // The next id is after the source's last, even though the log was trimmed.
                #expect(try await target.appendEvent(NewEvent(object: web, reason: "Created", message: "after")).id == 9)
                #expect(try await target.apply(try applied(fleetYAML(replicas: 5)))[2] == .configured(generation: 2))
            }
        }
    }

    @Test("a target that holds anything is refused, and left as it was", arguments: TestEngine.allCases)
    func nonEmptyTargetRefused(_ engine: TestEngine) async throws {
        try await withStore(.sqlite) { source, _ in
            try await fill(source)
            try await withStore(engine) { target, path in
                try await target.appendEvent(NewEvent(object: web, reason: "Created", message: "already here"))
                await #expect(throws: StoreError.notEmpty(path: path, holding: ["1 rows in event"])) {
                    try await target.restore(try await source.snapshot())
                }
                #expect(try await target.objects().isEmpty)
                #expect(try await target.events().count == 1)
            }
        }
    }
}
