import DroveAPI
import DroveManifest
import DroveStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `GET /api/v1/watch`: the store's changes as server-sent events.
///
/// It subscribes to `Store.changes()` before it answers, then (with `after`) replays the
/// events logged after that id, then forwards every change as it commits:
///
///     event: object   data: {"type":"applied","kind":"VMSet","name":"web","generation":2}
///     event: status   data: {"kind":"VMSet","name":"web","status":{...}}
///     id: 42
///     event: event    data: {"id":42,"reason":"Created",...}
///
/// plus a comment line (`: heartbeat`) every `heartbeatInterval`. It ends when the client goes
/// away (at once when it closes its socket, else at the next write: the heartbeat at the
/// latest), when the server shuts down,
/// or when the watcher falls too far behind (`StoreOptions.changeBufferSize`): the client then
/// reconnects with `after` set to the last event id it saw and reads objects and status anew.
struct WatchStream: Sendable {
    let store: Store
    let heartbeat: Duration
    let metrics: ServerMetrics
    let logger: Logger

    enum Outgoing: Sendable {
        case change(StoreChange)
        case heartbeat
    }

    /// The stream for `principal`, holding only what `access` lets it read. Access is read
    /// again when an object it does not know yet appears (a set created after the stream began).
    func response(after: Int64?, principal: Principal, connection: any Channel,
                  access: @escaping @Sendable (Principal) async throws(APIError) -> Access) -> Response {
        // Subscribe now, before answering, so no change committed from here on is missed.
        let changes = store.changes()
        // Hummingbird lets clients half-close (allowRemoteHalfClosure), so a client's FIN alone
        // closes nothing and the stream would wait for its next write to fail. This connection
        // carries nothing after the stream: its FIN may close it, which ends the stream.
        connection.setOption(ChannelOptions.allowRemoteHalfClosure, value: false).whenFailure { _ in }
        let closed = connection.closeFuture
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8",
            .cacheControl: "no-cache",
            .init("X-Accel-Buffering")!: "no",
        ]
        let body = ResponseBody { [self] writer in
            metrics.watchStreams.increment()
            defer { metrics.watchStreams.decrement() }
            do {
                try await stream(changes, after: after, principal: principal, access: access, closed: closed, to: &writer)
            } catch {
                // The client went away; there is nobody to tell.
                logger.debug("watch stream ended", metadata: ["error": "\(error)"])
                return
            }
            try? await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    private func stream(_ changes: AsyncStream<StoreChange>, after: Int64?, principal: Principal,
                        access readAccess: @escaping @Sendable (Principal) async throws(APIError) -> Access,
                        closed: EventLoopFuture<Void>, to writer: inout any ResponseBodyWriter) async throws {
        var access = try await readAccess(principal)
        let (outgoing, continuation) = AsyncStream.makeStream(of: Outgoing.self)
        // The client is gone: stop now rather than at the next heartbeat.
        closed.whenComplete { _ in continuation.finish() }
        // A graceful shutdown (SIGTERM to `drove serve`) ends the stream, so the server can stop.
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await change in changes { continuation.yield(.change(change)) }
                    continuation.finish()
                }
                group.addTask { [heartbeat] in
                    while !Task.isCancelled {
                        try await Task.sleep(for: heartbeat)
                        continuation.yield(.heartbeat)
                    }
                }
                defer { group.cancelAll() }

                try await writer.write(ByteBuffer(string: ": watching drove store changes\n\n"))
                var lastEvent = Int64.min
                if let after {
                    lastEvent = try await replay(after: after, access: access, to: &writer)
                }
                for await item in outgoing {
                    switch item {
                    case .heartbeat:
                        try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    case let .change(change):
                        // Replayed already (it committed while the replay read the log).
                        if case let .eventAppended(event) = change, event.id <= lastEvent { continue }
                        if case let .objectApplied(reference, _) = change, !access.knows(reference) {
                            access = try await readAccess(principal)
                        }
                        guard access.mayRead(change.reference) else { continue }
                        try await writer.write(ByteBuffer(string: try await message(for: change)))
                    }
                }
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    /// Writes the logged events after `after`, page by page; returns the last id written.
    private func replay(after: Int64, access: Access, to writer: inout any ResponseBodyWriter) async throws -> Int64 {
        var last = after
        while true {
            let page = try await store.events(after: last, limit: 500)
            for event in page {
                last = event.id
                guard access.mayRead(event.object) else { continue }
                try await writer.write(ByteBuffer(string: try Self.sse("event", APIService.render(event), id: event.id)))
            }
            if page.count < 500 { return last }
        }
    }

    private func message(for change: StoreChange) async throws -> String {
        switch change {
        case let .objectApplied(reference, generation):
            return try Self.sse("object", APIObjectChange(type: "applied", kind: reference.kind.rawValue, name: reference.name, generation: generation))
        case let .objectDeletionRequested(reference):
            return try Self.sse("object", APIObjectChange(type: "deletionRequested", kind: reference.kind.rawValue, name: reference.name))
        case let .objectPruned(reference):
            return try Self.sse("object", APIObjectChange(type: "pruned", kind: reference.kind.rawValue, name: reference.name))
        case let .statusChanged(reference):
            // The change says which; the status is read now (it may be newer still).
            let status = try? await store.status(kind: reference.kind, name: reference.name)
            return try Self.sse("status", APIStatusChange(kind: reference.kind.rawValue, name: reference.name, status: status.flatMap { $0 }.map(APIService.render)))
        case let .eventAppended(event):
            return try Self.sse("event", APIService.render(event), id: event.id)
        }
    }

    /// One server-sent event. JSON has no raw newlines, so `data` is one line.
    static func sse(_ event: String, _ value: some Encodable, id: Int64? = nil) throws -> String {
        let data = String(decoding: try APIJSON.encoder().encode(value), as: UTF8.self)
        return (id.map { "id: \($0)\n" } ?? "") + "event: \(event)\ndata: \(data)\n\n"
    }
}

extension StoreChange {
    /// The object the change is about.
    var reference: ObjectReference {
        switch self {
        case let .objectApplied(reference, _), let .objectDeletionRequested(reference), let .objectPruned(reference),
             let .statusChanged(reference):
            reference
        case let .eventAppended(event):
            event.object
        }
    }
}
