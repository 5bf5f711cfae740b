@testable import DroveStore
import Foundation
import Testing

@Suite("Leases and controller records")
struct LeaseTests {
    @Test("one holder at a time: renewed by its holder, refused to another until it runs out, then taken over", arguments: TestEngine.allCases)
    func leaseChangesHandsOnlyWhenExpired(_ engine: TestEngine) async throws {
        try await withStorePlace(engine) { place in
            // Leases are timed by the database's clock: the real one, here.
            let store = try await place.open(StoreOptions())
            defer { try? store.close() }
            #expect(try await store.lease("controller") == nil)
            guard case let .acquired(first) = try await store.tryAcquireLease("controller", holder: "a", duration: 5) else {
                Issue.record("a should take a free lease"); return
            }
            #expect(first.holder == "a" && first.transitions == 0 && !first.expired)
            guard case let .heldByAnother(held) = try await store.tryAcquireLease("controller", holder: "b", duration: 5) else {
                Issue.record("b must not take a's running lease"); return
            }
            #expect(held.holder == "a")
            guard case let .renewed(renewed) = try await store.tryAcquireLease("controller", holder: "a", duration: 5) else {
                Issue.record("a should renew its own lease"); return
            }
            #expect(renewed.renewedAt >= first.renewedAt && renewed.acquiredAt == first.acquiredAt)

            try await Task.sleep(for: .milliseconds(5500))
            #expect(try await store.lease("controller")?.expired == true)
            guard case let .acquired(taken) = try await store.tryAcquireLease("controller", holder: "b", duration: 5) else {
                Issue.record("b should take a's lease once it ran out"); return
            }
            #expect(taken.holder == "b" && taken.transitions == 1)
            guard case .heldByAnother = try await store.tryAcquireLease("controller", holder: "a", duration: 5) else {
                Issue.record("a lost it"); return
            }
        }
    }

    @Test("a released lease is free at once, and only its holder can release it", arguments: TestEngine.allCases)
    func release(_ engine: TestEngine) async throws {
        try await withStorePlace(engine) { place in
            let store = try await place.open(StoreOptions())
            defer { try? store.close() }
            _ = try await store.tryAcquireLease("controller", holder: "a", duration: 60)
            #expect(try await store.releaseLease("controller", holder: "b") == false)
            #expect(try await store.lease("controller")?.expired == false)
            #expect(try await store.releaseLease("controller", holder: "a") == true)
            guard case let .acquired(taken) = try await store.tryAcquireLease("controller", holder: "b", duration: 60) else {
                Issue.record("b should take a released lease at once"); return
            }
            #expect(taken.transitions == 1)
        }
    }

    @Test("many replicas racing for a free lease: exactly one gets it", arguments: TestEngine.allCases)
    func raceHasOneWinner(_ engine: TestEngine) async throws {
        try await withStorePlace(engine) { place in
            let store = try await place.open(StoreOptions())
            defer { try? store.close() }
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        if case .acquired = try await store.tryAcquireLease("controller", holder: "r\(index)", duration: 60) { return true }
                        return false
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(winners == 1)
        }
    }

    @Test("replicas report themselves; ones long unseen are forgotten", arguments: TestEngine.allCases)
    func controllerRecords(_ engine: TestEngine) async throws {
        try await withStorePlace(engine) { place in
            let store = try await place.open(StoreOptions())
            defer { try? store.close() }
            let started = Date(timeIntervalSince1970: 1_800_000_000)
            try await store.recordController(id: "a", address: "https://a:7443", startedAt: started)
            try await store.recordController(id: "b", address: "https://b:7443", startedAt: started)
            try await store.recordController(id: "a", address: "https://a:7444", startedAt: started)
            let (records, now) = try await store.controllers()
            #expect(records.map(\.id) == ["a", "b"])
            #expect(records[0].address == "https://a:7444" && records[0].startedAt == started)
            #expect(records.allSatisfy { abs($0.seenAt.timeIntervalSince(now)) < 60 })
            try await Task.sleep(for: .milliseconds(300))
            try await store.recordController(id: "b", address: "https://b:7443", startedAt: started, forgetAfter: 0.2)
            #expect(try await store.controllers().controllers.map(\.id) == ["b"])
        }
    }
}
