import NIOCore
import NIOPosix

/// What a bare HTTP/1.1 connection has received so far, read on demand, so a test can follow
/// a server-sent event stream that never ends.
struct StreamReader {
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private(set) var received = ""

    init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) {
        self.iterator = iterator
    }

    /// Reads until everything received contains every one of `needles`, after `offset`
    /// characters. Never returns if they do not arrive: run it under `withTimeout`.
    mutating func read(until needles: [String], after offset: Int = 0) async throws {
        while !needles.allSatisfy({ String(received.dropFirst(offset)).contains($0) }) {
            guard let buffer = try await iterator.next() else { throw ConnectionClosed(received: received) }
            received += String(buffer: buffer)
        }
    }
}

/// Opens a connection, sends `GET path`, and runs `body` with a reader of the answer.
func withStreamingGet<T: Sendable>(port: Int, path: String, _ body: (inout StreamReader) async throws -> T) async throws -> T {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    return try await channel.executeThenClose { inbound, outbound in
        try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"))
        var reader = StreamReader(inbound.makeAsyncIterator())
        return try await body(&reader)
    }
}

struct ConnectionClosed: Error, CustomStringConvertible {
    var received: String
    var description: String { "the server closed the connection after sending:\n\(received)" }
}
