import DroveManifest
@testable import DroveStore
import Foundation
import Testing

@Suite("Status")
struct StatusTests {
    @Test("lastTransitionTime stays while a condition's status holds and moves when it flips", arguments: TestEngine.allCases)
    func transitionTimes(_ engine: TestEngine) async throws {
        let clock = TestClock()
        try await withStore(engine, clock: clock) { store, _ in
            _ = try await store.apply(try applied(fleetYAML()))
            #expect(try await store.status(kind: .vmSet, name: "web") == nil)
            let t0 = clock.date
            let first = try await store.setStatus(StatusUpdate(
                observedGeneration: 1,
                conditions: [.ready: ConditionReport(status: .false, reason: "Creating", message: "0 of 3 ready"),
                             .progressing: ConditionReport(status: .true, reason: "Creating")],
                counters: [StatusCounter.desired: 3, StatusCounter.present: 0]), for: web)
            #expect(first.condition(.ready)?.lastTransitionTime == t0)
            #expect(first.conditions.map(\.type) == [.ready, .progressing])

            clock.advance(seconds: 10)
            let second = try await store.setStatus(StatusUpdate(
                observedGeneration: 1,
                conditions: [.ready: ConditionReport(status: .false, reason: "Starting", message: "2 of 3 ready"),
                             .progressing: ConditionReport(status: .true, reason: "Starting")],
                counters: [StatusCounter.desired: 3, StatusCounter.present: 3, StatusCounter.running: 2]), for: web)
            #expect(second.condition(.ready)?.lastTransitionTime == t0)
            #expect(second.condition(.ready)?.reason == "Starting")
            #expect(second.condition(.ready)?.message == "2 of 3 ready")
            #expect(second.updatedAt == clock.date)

            clock.advance(seconds: 10)
            let t2 = clock.date
            try await store.setStatus(StatusUpdate(
                observedGeneration: 1,
                conditions: [.ready: ConditionReport(status: .true, reason: "AllReplicasReady"),
                             .progressing: ConditionReport(status: .false, reason: "Converged"),
                             .degraded: ConditionReport(status: .false, reason: "Converged")],
                counters: [StatusCounter.desired: 3, StatusCounter.ready: 3]), for: web)

            let stored = try #require(try await store.status(kind: .vmSet, name: "web"))
            #expect(stored.condition(.ready)?.status == .true)
            #expect(stored.condition(.ready)?.lastTransitionTime == t2)
            #expect(stored.condition(.progressing)?.lastTransitionTime == t2)
            #expect(stored.condition(.degraded)?.lastTransitionTime == t2)
            #expect(stored.conditions.map(\.type) == [.ready, .progressing, .degraded])
            #expect(stored.counters == ["desired": 3, "ready": 3])
            #expect(stored.observedGeneration == 1)
        }
    }

    @Test("writing the same status again writes nothing", arguments: TestEngine.allCases)
    func sameStatusIsNoWrite(_ engine: TestEngine) async throws {
        let clock = TestClock()
        try await withStore(engine, clock: clock) { store, _ in
            _ = try await store.apply(try applied(fleetYAML()))
            let update = StatusUpdate(observedGeneration: 1, conditions: [.ready: ConditionReport(status: .true, reason: "AllReplicasReady")])
            let first = try await store.setStatus(update, for: web)
            clock.advance(seconds: 30)
            let again = try await store.setStatus(update, for: web)
            #expect(again == first)
            #expect(try await store.status(kind: .vmSet, name: "web")?.updatedAt == first.updatedAt)
        }
    }

    @Test("status of an unknown object, or with a reason that is not CamelCase, is refused", arguments: TestEngine.allCases)
    func refusals(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.apply(try applied(fleetYAML()))
            let ghost = ObjectReference(kind: .vmSet, name: "ghost")
            await #expect(throws: StoreError.notFound(ghost)) {
                try await store.setStatus(StatusUpdate(observedGeneration: 1), for: ghost)
            }
            await #expect(throws: StoreError.invalidReason(web, reason: "not ready")) {
                try await store.setStatus(StatusUpdate(
                    observedGeneration: 1, conditions: [.ready: ConditionReport(status: .false, reason: "not ready")]), for: web)
            }
            #expect(try await store.status(kind: .vmSet, name: "web") == nil)
        }
    }
}
