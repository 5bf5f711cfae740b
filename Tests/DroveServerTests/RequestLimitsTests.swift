import DroveAPI
import DroveManifest
import DroveServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

/// What the server refuses, and the clients it does not wait for: mutations without a token or
/// by a viewer, bodies over the limit, requests over the per-request budget of documents,
/// slowloris clients, and watch clients that went away.
@Suite("Request limits and refusals")
struct RequestLimitsTests {
    @Test("a mutation without a token is 401 with a Bearer challenge; one by a viewer is 403; nothing is stored")
    func unauthenticatedAndForbidden() async throws {
        try await withRouterClient { fixture, client in
            let anonymous = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(authorized: false),
                                                     body: ByteBuffer(string: fleetYAML()))
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)

            let added = try await client.execute(uri: "/api/v1/users", method: .post, headers: fixture.authorized,
                                                 body: ByteBuffer(string: #"{"name": "vic", "role": "viewer"}"#))
            #expect(added.status == .created)
            let viewer = try decode(APIUserToken.self, added).token
            let forbidden = try await client.execute(uri: "/api/v1/apply", method: .post,
                                                     headers: [.contentType: "application/yaml", .authorization: "Bearer \(viewer)"],
                                                     body: ByteBuffer(string: fleetYAML()))
            #expect(forbidden.status == .forbidden)
            #expect(try decode(APIErrorBody.self, forbidden).error.contains("vic is a viewer"))
            // Refused for who asks, before the body is read: an oversized body too is 403, not 422.
            let tooMany = Array(repeating: "a: 1", count: 1_001).joined(separator: "\n---\n")
            let forbiddenFirst = try await client.execute(uri: "/api/v1/apply", method: .post,
                                                          headers: [.contentType: "application/yaml", .authorization: "Bearer \(viewer)"],
                                                          body: ByteBuffer(string: tooMany))
            #expect(forbiddenFirst.status == .forbidden)
            let deletion = try await client.execute(uri: "/api/v1/vmsets/web", method: .delete, headers: [.authorization: "Bearer \(viewer)"])
            #expect(deletion.status == .forbidden)
            #expect(try await fixture.store.objects().isEmpty)
            #expect(fixture.controller.enqueued.isEmpty)
        }
    }

    @Test("a body over the limit is 413, whether its length is declared or it is sent in chunks")
    func oversizedBody() async throws {
        let limit = 16 << 10
        let oversized = String(repeating: "# padding\n", count: (limit / 10) + 100)
        try await withFixture(maxBodyBytes: limit) { fixture in
            try await fixture.application().test(.live) { client in
                let declared = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                        body: ByteBuffer(string: oversized))
                #expect(declared.status == .contentTooLarge)
                #expect(try decode(APIErrorBody.self, declared).error.contains("over the limit of \(limit) bytes"))

                // No Content-Length: the limit is found while the body is collected.
                let port = try #require(client.port)
                let bytes = Array(oversized.utf8)
                let chunks = stride(from: 0, to: bytes.count, by: 4096).map { start -> String in
                    let piece = bytes[start..<min(start + 4096, bytes.count)]
                    return String(piece.count, radix: 16) + "\r\n" + String(decoding: piece, as: UTF8.self) + "\r\n"
                }.joined()
                let chunked = try await RawConnection.exchange(port: port, """
                    POST /api/v1/apply HTTP/1.1\r
                    Host: localhost\r
                    Authorization: Bearer \(Fixture.token)\r
                    Content-Type: application/yaml\r
                    Transfer-Encoding: chunked\r
                    Connection: close\r
                    \r
                    \(chunks)0\r
                    \r

                    """)
                #expect(chunked.hasPrefix("HTTP/1.1 413"), "\(chunked.prefix(200))")
                #expect(try await fixture.store.objects().isEmpty)
            }
        }
    }

    @Test("a request's files together hold at most 1,000 documents and 100,000 nodes: 422 tooLarge where the sum goes over")
    func perRequestBudget() async throws {
        // 600 documents each: either file alone is within every limit.
        let documents = Array(repeating: "a: 1", count: 600).joined(separator: "\n---\n") + "\n"
        // 60 documents of 1,000 nodes each: 60,000 nodes per file.
        let nodes = Array(repeating: "[" + Array(repeating: "1", count: 999).joined(separator: ",") + "]", count: 60)
            .joined(separator: "\n---\n") + "\n"
        try await withRouterClient(maxBodyBytes: ServerConfiguration.defaultMaxBodyBytes) { fixture, client in
            func apply(_ texts: [String]) async throws -> APIErrorBody {
                let body = try APIJSON.encoder().encode(APISources(sources: texts.enumerated().map {
                    APISource(name: "file\($0.offset + 1).yaml", text: $0.element, baseDirectory: "/srv")
                }))
                let response = try await client.execute(uri: "/api/v1/apply", method: .post,
                                                        headers: [.contentType: "application/json", .authorization: "Bearer \(Fixture.token)"],
                                                        body: ByteBuffer(bytes: body))
                #expect(response.status == .unprocessableContent)
                return try decode(APIErrorBody.self, response)
            }

            // Alone, each is refused for what it is (not a manifest), not for its size.
            for text in [documents, nodes] {
                let alone = try await apply([text])
                #expect(alone.errors?.contains { $0.code == DiagnosticCode.tooLarge.rawValue } == false)
            }

            let tooManyDocuments = try await apply([documents, documents])
            let overDocuments = try #require(tooManyDocuments.errors?.first)
            #expect(tooManyDocuments.errors?.count == 1)
            #expect(overDocuments.code == DiagnosticCode.tooLarge.rawValue)
            // The 401st document of the second file: the 1,001st of the request.
            #expect("\(overDocuments.file):\(overDocuments.line):\(overDocuments.column)" == "file2.yaml:800:1")
            #expect(overDocuments.message.contains("more than 1000 documents in all"))

            let tooManyNodes = try await apply([nodes, nodes])
            let overNodes = try #require(tooManyNodes.errors?.first)
            #expect(overNodes.code == DiagnosticCode.tooLarge.rawValue)
            #expect(overNodes.file == "file2.yaml")
            #expect(overNodes.message.contains("more than 100000 nodes in all"))

            // Plan reads its body the same way.
            let body = try APIJSON.encoder().encode(APISources(sources: [
                APISource(name: "a.yaml", text: documents, baseDirectory: nil), APISource(name: "b.yaml", text: documents, baseDirectory: nil),
            ]))
            let plan = try await client.execute(uri: "/api/v1/plan", method: .post,
                                                headers: [.contentType: "application/json", .authorization: "Bearer \(Fixture.token)"],
                                                body: ByteBuffer(bytes: body))
            #expect(plan.status == .unprocessableContent)
            #expect(try decode(APIErrorBody.self, plan).errors?.first?.file == "b.yaml")
            #expect(try await fixture.store.objects().isEmpty)
            #expect(fixture.controller.plannedManifests.isEmpty)
        }
    }

    @Test("slowloris clients (a byte a second of a request head, or nothing at all) are cut off after the idle timeout, and others are answered meanwhile")
    func slowClientsAreDisconnected() async throws {
        let idle = Duration.seconds(2)
        try await withFixture(idleTimeout: idle) { fixture in
            try await fixture.application().test(.live) { client in
                let port = try #require(client.port)
                let start = ContinuousClock.now
                try await withThrowingTaskGroup(of: SlowClient.self) { group in
                    for index in 0..<8 {
                        // Half dribble a head that would take a minute to send; half send nothing.
                        group.addTask {
                            try await withTimeout(15, "the server to close a slow connection") {
                                try await SlowClient.run(port: port, dribble: index.isMultiple(of: 2))
                            }
                        }
                    }
                    // While they hold their connections, others are served at once.
                    try await Task.sleep(for: .milliseconds(500))
                    for _ in 0..<3 {
                        let answer = try await RawConnection.exchange(
                            port: port, "GET /api/v1/vmsets HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(200))")
                    }
                    let servedBy = ContinuousClock.now - start
                    var results: [SlowClient] = []
                    for try await result in group { results.append(result) }
                    for result in results {
                        #expect(result.received.isEmpty, "a slow client got an answer: \(result.received.prefix(100))")
                        // Cut off by the idle timeout: not before it, and within a bound (a loaded machine's slack).
                        #expect(result.closedAfter >= idle, "closed after \(result.closedAfter)")
                        #expect(result.closedAfter < idle + .seconds(5), "still open after \(result.closedAfter)")
                        #expect(result.closedAfter > servedBy, "the other requests were served only after the slow clients were gone")
                    }
                    #expect(results.filter(\.dribbled).allSatisfy { $0.bytesSent >= 2 }, "the dribbling clients sent little or nothing")
                }
            }
        }
    }

    @Test("a body dribbled a byte within every idle period is cut off once the idle timeout has passed: 408, and the connection closed")
    func slowBodyIsCutOff() async throws {
        let idle = Duration.seconds(2)
        try await withFixture(idleTimeout: idle) { fixture in
            try await fixture.application().test(.live) { client in
                let port = try #require(client.port)
                let start = ContinuousClock.now
                let received = try await withTimeout(20, "the server to cut off a slow body") {
                    let channel = try await RawConnection.connect(port: port)
                    return try await channel.executeThenClose { inbound, outbound in
                        try await outbound.write(ByteBuffer(string: "POST /api/v1/apply HTTP/1.1\r\nHost: localhost\r\n"
                            + "Authorization: Bearer \(Fixture.token)\r\nContent-Type: application/yaml\r\nContent-Length: 10000\r\n\r\n"))
                        // A byte every half second: never idle, and far too slow.
                        let dribble = Task {
                            for _ in 0..<40 {
                                try await outbound.write(ByteBuffer(string: "#"))
                                try await Task.sleep(for: .milliseconds(500))
                            }
                        }
                        defer { dribble.cancel() }
                        var received = ""
                        do {
                            for try await buffer in inbound { received += String(buffer: buffer) }
                        } catch {}
                        return received
                    }
                }
                let after = ContinuousClock.now - start
                #expect(received.hasPrefix("HTTP/1.1 408"), "\(received.prefix(300))")
                #expect(received.contains("bytes/s"), "\(received.prefix(300))")
                #expect(after >= idle && after < idle + .seconds(8), "cut off after \(after)")
                #expect(try await fixture.store.objects().isEmpty)
            }
        }
    }

    @Test("a watch client that closes its socket is released at once: the open-streams gauge drops back within 2 s")
    func vanishingWatchClientIsReleased() async throws {
        // A heartbeat far off, so that only the client's closing can end the stream in time.
        try await withFixture(heartbeat: .seconds(120)) { fixture in
            try await fixture.application().test(.live) { client in
                let port = try #require(client.port)
                #expect(Self.watchStreams(fixture) == 0)
                try await withTimeout(10, "the watch stream's head") {
                    try await withStreamingGet(port: port, path: "/api/v1/watch") { reader in
                        try await reader.read(until: ["200 OK", ": watching"])
                    }
                }
                // withStreamingGet has closed the socket; the stream was open while it read.
                let released = try await Self.poll(for: .seconds(2)) { Self.watchStreams(fixture) == 0 }
                #expect(released, "drove_api_watch_streams is still \(Self.watchStreams(fixture)) 2 s after the client closed")

                // And a stream stays counted while its client is there.
                try await withTimeout(10, "a second watch stream") {
                    try await withStreamingGet(port: port, path: "/api/v1/watch") { reader in
                        try await reader.read(until: [": watching"])
                        try await Task.sleep(for: .milliseconds(300))
                        #expect(Self.watchStreams(fixture) == 1)
                    }
                }
                #expect(try await Self.poll(for: .seconds(2)) { Self.watchStreams(fixture) == 0 })
            }
        }
    }

    /// `drove_api_watch_streams` as `/metrics` shows it.
    static func watchStreams(_ fixture: Fixture) -> Int {
        let text = String(decoding: fixture.registry.emitToBuffer(), as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix("drove_api_watch_streams ") }
        return line.flatMap { Double($0.split(separator: " ")[1]) }.map { Int($0) } ?? -1
    }

    /// Whether `condition` holds within `limit`, checked every 50 ms.
    static func poll(for limit: Duration, _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}

/// A slowloris client: connects, then sends a request head one byte a second (or nothing), and
/// notes when the server closed the connection and anything it answered.
struct SlowClient: Sendable {
    var dribbled: Bool
    var closedAfter: Duration
    var bytesSent: Int
    var received: String

    static func run(port: Int, dribble: Bool) async throws -> SlowClient {
        let head = Array("GET /api/v1/vmsets HTTP/1.1\r\nHost: localhost\r\nX-Padding: \(String(repeating: "a", count: 60))\r\n\r\n".utf8)
        // Before connecting: the server's idle clock starts when it accepts, which is later.
        let start = ContinuousClock.now
        let channel = try await RawConnection.connect(port: port)
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    var sent = 0
                    guard dribble else { return sent }
                    for byte in head {
                        do {
                            try await outbound.write(ByteBuffer(bytes: [byte]))
                        } catch {
                            return sent
                        }
                        sent += 1
                        do {
                            try await Task.sleep(for: .seconds(1))
                        } catch {
                            return sent
                        }
                    }
                    return sent
                }
                var received = ""
                do {
                    for try await buffer in inbound { received += String(buffer: buffer) }
                } catch {
                    // A reset is a close too.
                }
                let closedAfter = ContinuousClock.now - start
                group.cancelAll()
                let sent = (try? await group.next() ?? 0) ?? 0
                return SlowClient(dribbled: dribble, closedAfter: closedAfter, bytesSent: sent, received: received)
            }
        }
    }
}

/// A bare TCP connection to the server on 127.0.0.1.
enum RawConnection {
    static func connect(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Sends `request` and reads until the server closes (send `Connection: close`).
    static func exchange(port: Int, _ request: String) async throws -> String {
        try await withTimeout(20, "an answer to \(request.prefix(40))") {
            let channel = try await connect(port: port)
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: request))
                var received = ""
                do {
                    for try await buffer in inbound { received += String(buffer: buffer) }
                } catch where !received.isEmpty {
                    // A reset after the answer (the server closed with our body unread): the answer stands.
                }
                return received
            }
        }
    }
}
