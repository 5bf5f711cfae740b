import DroveManifest
@testable import DroveStore
import Foundation
import Testing

@Suite("Events")
struct EventsTests {
    func event(_ number: Int, about object: ObjectReference = web) -> NewEvent {
        NewEvent(object: object, host: "node-a", reason: "Created", message: "created web-\(number) on node-a")
    }

    @Test("retention keeps the newest N, trimming on insert", arguments: TestEngine.allCases)
    func trimsToCount(_ engine: TestEngine) async throws {
        try await withStore(engine, retention: EventRetention(maxCount: 10, trimInterval: 1)) { store, _ in
            for number in 1...25 { try await store.appendEvent(event(number)) }
            let kept = try await store.events(limit: 100)
            #expect(kept.map(\.id) == Array(16...25))
            #expect(kept.last?.message == "created web-25 on node-a")
        }
    }

    @Test("trimming every Nth insert lets the log overshoot by less than N", arguments: TestEngine.allCases)
    func trimsEveryNth(_ engine: TestEngine) async throws {
        try await withStore(engine, retention: EventRetention(maxCount: 10, trimInterval: 5)) { store, _ in
            try await store.appendEvents((1...23).map { event($0) })
            // One batch crossing a multiple of 5 trims once, at its end.
            #expect(try await store.events(limit: 100).map(\.id) == Array(14...23))
            for number in 24...27 { try await store.appendEvent(event(number)) }
            let count = try await store.events(limit: 100).count
            #expect(count == 12) // 16...25 after the trim at id 25, then 26 and 27
            #expect(try await store.trimEvents() == 2)
            #expect(try await store.events(limit: 100).map(\.id) == Array(18...27))
        }
    }

    @Test("retention drops events older than the maximum age", arguments: TestEngine.allCases)
    func trimsByAge(_ engine: TestEngine) async throws {
        let clock = TestClock()
        try await withStore(engine, retention: EventRetention(maxCount: nil, maxAge: 60, trimInterval: 1), clock: clock) { store, _ in
            for number in 1...3 { try await store.appendEvent(event(number)) }
            clock.advance(seconds: 61)
            try await store.appendEvent(event(4))
            #expect(try await store.events().map(\.id) == [4])
            #expect(try await store.events().first?.time == clock.date)
        }
    }

    @Test("paging after an id, for all objects or one", arguments: TestEngine.allCases)
    func paging(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            let other = ObjectReference(kind: .host, name: "node-b")
            for number in 1...7 { try await store.appendEvent(event(number, about: number % 3 == 0 ? other : web)) }
            #expect(try await store.events(after: 0, limit: 3).map(\.id) == [1, 2, 3])
            #expect(try await store.events(after: 3, limit: 3).map(\.id) == [4, 5, 6])
            #expect(try await store.events(after: 6, limit: 3).map(\.id) == [7])
            #expect(try await store.events(after: 7, limit: 3).isEmpty)
            #expect(try await store.events(after: 0, limit: 10, object: other).map(\.id) == [3, 6])
            #expect(try await store.events(after: 3, limit: 10, object: web).map(\.id) == [4, 5, 7])
            #expect(try await store.latestEvents(limit: 2).map(\.id) == [6, 7])
            #expect(try await store.latestEvents(limit: 2, object: other).map(\.id) == [3, 6])
            let third = try #require(try await store.events(after: 2, limit: 1).first)
            #expect(third.object == other && third.host == "node-a" && third.type == .normal && third.reason == "Created")
        }
    }

    @Test("ids are never reused, even after every event was trimmed", arguments: TestEngine.allCases)
    func idsNeverReused(_ engine: TestEngine) async throws {
        let clock = TestClock()
        try await withStore(engine, retention: EventRetention(maxCount: nil, maxAge: 1, trimInterval: 1), clock: clock) { store, _ in
            try await store.appendEvents((1...5).map { event($0) })
            clock.advance(seconds: 10)
            #expect(try await store.trimEvents() == 5)
            #expect(try await store.appendEvent(event(6)).id == 6)
        }
    }

    @Test("a reason that is not CamelCase is refused", arguments: TestEngine.allCases)
    func camelCaseReason(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ async throws in
            await #expect(throws: StoreError.invalidReason(web, reason: "created")) {
                try await store.appendEvent(NewEvent(object: web, reason: "created", message: ""))
            }
            #expect(try await store.events().isEmpty)
        }
    }
}
