import DroveAPI
import DroveManifest
import DroveServer
import DroveStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOPosix
import Prometheus
import ServiceLifecycle
import Testing

@Suite("Events, watching, metrics")
struct EventsWatchMetricsTests {
    static let web = ObjectReference(kind: .vmSet, name: "web")
    static let api = ObjectReference(kind: .vmSet, name: "api")

    @Test("events page by id, filter by object, and tail")
    func eventPaging() async throws {
        try await withRouterClient { fixture, client in
            var appended: [Event] = []
            for ordinal in 0..<5 {
                let object = ordinal.isMultiple(of: 2) ? Self.web : Self.api
                appended.append(try await fixture.store.appendEvent(NewEvent(
                    object: object, host: "node-a", reason: "Created", message: "created \(object.name)-\(ordinal) on node-a")))
            }
            let first = try decode(APIEventList.self, try await client.execute(uri: "/api/v1/events?limit=2", method: .get))
            #expect(first.items.map(\.id) == appended.prefix(2).map(\.id))
            #expect(first.next == appended[1].id)
            #expect(first.items[0].message == "created web-0 on node-a")
            #expect(first.items[0].host == "node-a")
            #expect(first.items[0].type == "Normal")

            let second = try decode(APIEventList.self, try await client.execute(uri: "/api/v1/events?after=\(first.next)&limit=2", method: .get))
            #expect(second.items.map(\.id) == appended[2...3].map(\.id))
            let last = try decode(APIEventList.self, try await client.execute(uri: "/api/v1/events?after=\(second.next)&limit=2", method: .get))
            #expect(last.items.map(\.id) == [appended[4].id])
            let none = try decode(APIEventList.self, try await client.execute(uri: "/api/v1/events?after=\(last.next)", method: .get))
            #expect(none.items.isEmpty)
            #expect(none.next == last.next)

            let web = try decode(APIEventList.self, try await client.execute(uri: "/api/v1/vmsets/web/events", method: .get))
            #expect(web.items.map(\.id) == [appended[0].id, appended[2].id, appended[4].id])
            let filtered = try decode(APIEventList.self, try await client.execute(uri: "/api/v1/events?kind=vmsets&name=api", method: .get))
            #expect(filtered.items.map(\.id) == [appended[1].id, appended[3].id])
            let tail = try decode(APIEventList.self, try await client.execute(uri: "/api/v1/vmsets/web/events?tail=2", method: .get))
            #expect(tail.items.map(\.id) == [appended[2].id, appended[4].id])

            let bad = try await client.execute(uri: "/api/v1/events?after=soon", method: .get)
            #expect(bad.status == .badRequest)
            #expect(try decode(APIErrorBody.self, bad).error.contains("after=soon"))
            let nameAlone = try await client.execute(uri: "/api/v1/events?name=web", method: .get)
            #expect(nameAlone.status == .badRequest)
        }
    }

    @Test("a watch delivers a status change made after it connected")
    func watchDeliversStatus() async throws {
        try await withFixture { fixture in
            _ = try await fixture.store.apply(try appliedFleet())
            try await fixture.application().test(.live) { client in
                let port = try #require(client.port)
                let store = fixture.store
                let received = try await withTimeout(20, "the status change on the watch stream") {
                    try await withStreamingGet(port: port, path: "/api/v1/watch") { reader in
                        try await reader.read(until: ["200 OK", "text/event-stream", ": watching"])
                        try await store.setStatus(StatusUpdate(
                            observedGeneration: 1, conditions: [.ready: ConditionReport(status: .true, reason: "AllReplicasReady")],
                            counters: ["ready": 3]), for: Self.web)
                        try await store.appendEvent(NewEvent(object: Self.web, reason: "Ready", message: "web is ready"))
                        try await reader.read(until: ["event: status", "\"AllReplicasReady\"", "event: event", "web is ready"])
                        return reader.received
                    }
                }
                let statusLine = try #require(received.split(separator: "\n").first { $0.hasPrefix("data: ") && $0.contains("AllReplicasReady") })
                let change = try APIJSON.decoder().decode(APIStatusChange.self, from: Data(statusLine.dropFirst(6).utf8))
                #expect(change.kind == "VMSet")
                #expect(change.name == "web")
                #expect(change.status?.counters["ready"] == 3)
                #expect(received.contains("\nid: "))
            }
        }
    }

    @Test("a watch from an event id replays the events after it, then sends heartbeats")
    func watchReplaysAndBeats() async throws {
        try await withFixture(heartbeat: .milliseconds(100)) { fixture in
            let old = try await fixture.store.appendEvent(NewEvent(object: Self.web, reason: "Created", message: "old news"))
            _ = try await fixture.store.appendEvent(NewEvent(object: Self.web, reason: "Started", message: "fresh news"))
            try await fixture.application().test(.live) { client in
                let port = try #require(client.port)
                let received = try await withTimeout(20, "the replay and a heartbeat") {
                    try await withStreamingGet(port: port, path: "/api/v1/watch?after=\(old.id)") { reader in
                        try await reader.read(until: ["fresh news", ": heartbeat"])
                        return reader.received
                    }
                }
                #expect(!received.contains("old news"))
                #expect(received.contains("event: event"))
            }
        }
    }

    @Test("metrics are Prometheus text with the server's metrics and what swift-metrics records")
    func metrics() async throws {
        try await withRouterClient { fixture, client in
            _ = try await client.execute(uri: "/healthz", method: .get)
            // What the controller records through swift-metrics, via the factory serve bootstraps.
            let factory = DroveMetrics.factory(registry: fixture.registry)
            factory.makeTimer(label: DroveMetrics.reconcileDuration, dimensions: [("result", "success")]).recordNanoseconds(30_000_000)
            factory.makeMeter(label: DroveMetrics.queueDepth, dimensions: []).set(4.0)

            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            let body = text(response)
            #expect(body.contains(#"drove_api_requests_total{method="GET",status="200"} 1"#))
            #expect(body.contains("# HELP drove_api_requests_total"))
            #expect(body.contains("drove_api_watch_streams 0"))
            #expect(body.contains(#"drove_reconcile_duration_seconds_bucket{result="success",le="0.05"} 1"#))
            #expect(body.contains(#"drove_reconcile_duration_seconds_bucket{result="success",le="0.025"} 0"#))
            #expect(body.contains("drove_queue_depth 4"))
        }
    }
}

/// The fleet, ready for `Store.apply`.
func appliedFleet() throws -> [AppliedObject] {
    let source = ManifestSource(name: "fleet.yaml", text: fleetYAML(), baseDirectory: "/srv/manifests")
    return try AppliedObject.objects(in: try ManifestLoader().load(sources: [source]), sources: [source])
}

/// What a watch stream did around a graceful shutdown.
struct WatchEnding: Sendable {
    var openBeforeShutdown: Bool
    var endedAfterShutdown: Bool
    var connectionClosed: Bool
    var serverStopped: Bool
}

@Suite("Shutting down")
struct ShutdownTests {
    /// The last chunk of a chunked HTTP body.
    static let lastChunk = "\r\n0\r\n\r\n"

    @Test("a graceful shutdown ends open watch streams, so the server stops")
    func shutdownEndsWatch() async throws {
        try await withFixture(port: Int.random(in: 41000...59000)) { fixture in
            let port = fixture.configuration.port
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(
                services: [try fixture.application()], logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })))
            let ending = try await withTimeout(30, "the watch stream to end and the server to stop at shutdown") {
                try await withThrowingTaskGroup(of: WatchEnding?.self) { tasks in
                    tasks.addTask { try await group.run(); return nil }
                    try await waitUntilListening(port: port)
                    var ending = try await withStreamingGet(port: port, path: "/api/v1/watch") { reader in
                        try await reader.read(until: [": watching"])
                        let openBefore = !reader.received.contains(Self.lastChunk)
                        // The last chunk starts with the CRLF that ends the chunk before it (one Character).
                        let offset = max(0, reader.received.count - 1)
                        await group.triggerGracefulShutdown()
                        // The last chunk of a chunked body, sent after the shutdown began…
                        try await reader.read(until: [Self.lastChunk], after: offset)
                        // …and then the server closes the connection.
                        var closed = false
                        do {
                            while try await reader.iterator.next() != nil {}
                            closed = true
                        } catch {}
                        return WatchEnding(openBeforeShutdown: openBefore, endedAfterShutdown: true, connectionClosed: closed, serverStopped: false)
                    }
                    // The server's run returns: nothing else held it up.
                    while let result = try await tasks.next() { if result == nil { ending.serverStopped = true } }
                    return ending
                }
            }
            #expect(ending.openBeforeShutdown, "the watch had ended before the shutdown")
            #expect(ending.endedAfterShutdown)
            #expect(ending.connectionClosed, "the connection stayed open after the last chunk")
            #expect(ending.serverStopped)
        }
    }
}

/// Waits until something accepts connections on `port` (the server started in the background).
func waitUntilListening(port: Int) async throws {
    while true {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
            try await channel.close()
            return
        } catch {
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
