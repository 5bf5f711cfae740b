import DroveAPI
import DroveClient
import DroveManifest
import DroveStore
import Foundation
import Testing

@Suite("The API client against a real server", .timeLimit(.minutes(1)))
struct ClientTests {
    @Test("apply sends YAML sources and returns each object's result; get lists and reads them")
    func applyThenGet() async throws {
        try await withServer { client, _ in
            let sources = [source("templates.yaml", templateYAML), source("web.yaml", vmSetYAML())]
            let applied = try await client.apply(sources)
            #expect(applied.results == [
                APIApplyResult(kind: "Template", name: "alpine", result: "created", generation: 1),
                APIApplyResult(kind: "VMSet", name: "web", result: "created", generation: 1),
            ])
            #expect(try await client.apply(sources).results.map(\.result) == ["unchanged", "unchanged"])
            #expect(try await client.apply([source("web.yaml", vmSetYAML(replicas: 5))]).results
                == [APIApplyResult(kind: "VMSet", name: "web", result: "configured", generation: 2)])

            let sets = try await client.objects(.vmSet)
            #expect(sets.map(\.name) == ["web"])
            #expect(sets.first?.summary?["replicas"] == "5")
            #expect(try await client.objects(.template).first?.baseDirectory == "/srv/manifests")
            #expect(try await client.objects(.host).isEmpty)
            #expect(try await client.object(web).generation == 2)
        }
    }

    @Test("delete marks objects for deletion together and says which were not there")
    func delete() async throws {
        try await withServer { client, _ in
            _ = try await client.apply([source("fleet.yaml", templateYAML + "\n---\n" + vmSetYAML())])
            let response = try await client.delete([web, ObjectReference(kind: .host, name: "nowhere")])
            #expect(response.results == [
                APIDeleteResult(kind: "VMSet", name: "web", result: "deletionRequested"),
                APIDeleteResult(kind: "Host", name: "nowhere", result: "notFound"),
            ])
            #expect(try await client.objectIfPresent(web)?.deletionRequested == true)
            #expect(try await client.objectIfPresent(ObjectReference(kind: .host, name: "nowhere")) == nil)
        }
    }

    @Test("invalid manifests come back as a 422 client error carrying every diagnostic")
    func invalidManifests() async throws {
        try await withServer { client, _ in
            let error = await clientError { try await client.apply([source("bad.yaml", vmSetYAML(replicas: -2))]) }
            if case let .api(status, _, diagnostics)? = error {
                #expect(status == 422)
                #expect(diagnostics.map(\.text) == [
                    "bad.yaml:4:19: VMSet/web: spec.replicas: -2 is out of range 0..10000",
                    #"bad.yaml:4:33: VMSet/web: spec.template: Template "alpine" is not declared (no Template is declared)"#,
                ])
                #expect(diagnostics.map(\.path) == ["spec.replicas", "spec.template"])
                #expect(diagnostics.map(\.code) == ["outOfRange", "templateNotDeclared"])
            } else {
                Issue.record("expected an API error, got \(String(describing: error))")
            }
            let stored = try await client.objects(.vmSet)
            #expect(stored.isEmpty)
        }
    }

    @Test("other answers are typed too: a missing object, a mutation without the token, no server")
    func otherErrors() async throws {
        try await withServer { client, _ in
            let missing = await clientError { try await client.object(web) }
            #expect(missing?.status == 404)
            #expect(missing?.description == "VMSet/web not found")
            let anonymous = APIClient(server: client.server)
            #expect(await clientError { try await anonymous.apply([source("alpine.yaml", templateYAML)]) }?.status == 401)
        }
        let refused = await clientError { try await APIClient(server: URL(string: "http://127.0.0.1:1")!).objects(.host) }
        if case let .unreachable(server, reason)? = refused {
            #expect(server == "http://127.0.0.1:1")
            #expect(reason == "connection refused")
        } else {
            Issue.record("expected unreachable, got \(String(describing: refused))")
        }
    }

    @Test("the watch stream delivers the change an apply makes")
    func watchAfterApply() async throws {
        try await withServer { client, store in
            // A logged event, replayed first, shows that the stream is subscribed.
            let logged = try await store.appendEvent(NewEvent(object: web, reason: "Created", message: "created web-0"))
            var messages = client.watch(after: 0).makeAsyncIterator()
            let first = try await messages.next()
            #expect(first?.event == "event")
            #expect(first?.id == logged.id)
            #expect(first?.decode(APIEvent.self)?.message == "created web-0")

            _ = try await client.apply([source("fleet.yaml", templateYAML + "\n---\n" + vmSetYAML())])
            var change: APIObjectChange?
            while change == nil, let message = try await messages.next() {
                if message.event == "object", message.object?.name == "web" { change = message.decode(APIObjectChange.self) }
            }
            #expect(change == APIObjectChange(type: "applied", kind: "VMSet", name: "web", generation: 1))
        }
    }

    @Test("waiting for Ready returns once the controller reports it, and not before")
    func waitForReady() async throws {
        try await withServer { client, store in
            _ = try await client.apply([source("fleet.yaml", templateYAML + "\n---\n" + vmSetYAML())])
            let ready = WaitCondition.condition(type: "Ready", status: "True")

            let late = try await ObjectWaiter(client: client, condition: ready).wait(for: [web], timeout: .milliseconds(300))
            #expect(late.map { $0.0 } == [web])
            #expect(late.first.map { ObjectWaiter.reason($0.1, condition: ready) } == "the controller has not reported on it yet")

            async let waited = ObjectWaiter(client: client, condition: ready).wait(for: [web], timeout: .seconds(30))
            try await Task.sleep(for: .milliseconds(200))
            _ = try await store.setStatus(
                StatusUpdate(observedGeneration: 1, conditions: [.ready: ConditionReport(status: .true, reason: "AllReplicasReady")]),
                for: web)
            #expect(try await waited.isEmpty)
        }
    }

    @Test("--for running: a VM set's replicas all current and running, ready or not; Ready needs the guests too")
    func runningIsNotReady() async throws {
        try await withServer { client, store in
            _ = try await client.apply([source("fleet.yaml", templateYAML + "\n---\n" + vmSetYAML())])
            func report(running: Int, ready: Int, readyCondition: ConditionStatus) async throws {
                _ = try await store.setStatus(StatusUpdate(
                    observedGeneration: 1,
                    conditions: [.ready: ConditionReport(status: readyCondition, reason: readyCondition == .true ? "AllReplicasReady" : "ReplicasNotReady")],
                    counters: ["desired": 3, "present": 3, "running": running, "ready": ready, "updated": 3]), for: web)
            }
            try await report(running: 2, ready: 0, readyCondition: .false)
            #expect(try await ObjectWaiter(client: client, condition: .running).wait(for: [web], timeout: .milliseconds(200)).count == 1)
            try await report(running: 3, ready: 1, readyCondition: .false)
            #expect(try await ObjectWaiter(client: client, condition: .running).wait(for: [web], timeout: .seconds(5)).isEmpty)
            let ready = WaitCondition.condition(type: "Ready", status: "True")
            #expect(try await ObjectWaiter(client: client, condition: ready).wait(for: [web], timeout: .milliseconds(200)).count == 1)
            try await report(running: 3, ready: 3, readyCondition: .true)
            #expect(try await ObjectWaiter(client: client, condition: ready).wait(for: [web], timeout: .seconds(5)).isEmpty)
        }
    }
}
