import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Cuts off a request body that arrives too slowly: once the idle timeout has passed since the
/// body began, it must have come at `minimumBytesPerSecond` on average. The idle timeout alone
/// counts silence, so a client sending a byte within every idle period would otherwise hold a
/// worker and its connection for as long as it liked. It applies to every body, collected or
/// streamed (a template push too).
struct SlowBodyMiddleware: RouterMiddleware {
    typealias Context = DroveRequestContext

    let grace: Duration
    let minimumBytesPerSecond: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard [.post, .put, .patch].contains(request.method) else { return try await next(request, context) }
        var request = request
        let cutOff = CutOff()
        request.body = RequestBody(asyncSequence: MinimumRateBody(base: request.body, grace: grace, minimum: minimumBytesPerSecond, cutOff: cutOff))
        var response = try await next(request, context)
        // The rest of that body is not worth waiting for: the connection ends with the answer.
        // (The server would otherwise read the rest before closing, at the client's pace; the
        // answer is written long before the half second is up.)
        if cutOff.happened {
            response.headers[.connection] = "close"
            let channel = context.channel
            channel.eventLoop.scheduleTask(in: .milliseconds(500)) { channel.close(promise: nil) }
        }
        return response
    }
}

/// Whether a body was cut off, told by its iterator to the middleware.
final class CutOff: Sendable {
    private let flag = Mutex(false)
    var happened: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}

/// The body's chunks as they come, checked against the minimum rate after the grace period.
struct MinimumRateBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let grace: Duration
    let minimum: Int
    let cutOff: CutOff

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let grace: Duration
        let minimum: Int
        let cutOff: CutOff
        var started: ContinuousClock.Instant?
        var received = 0

        mutating func next() async throws -> ByteBuffer? {
            let start = started ?? ContinuousClock.now
            started = start
            guard let chunk = try await base.next() else { return nil }
            received += chunk.readableBytes
            let elapsed = ContinuousClock.now - start
            if elapsed > grace {
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let rate = Double(received) / seconds
                if rate < Double(minimum) {
                    cutOff.set()
                    throw APIError(.requestTimeout, String(format: "the request body came at %.0f bytes/s, under the minimum of %d bytes/s: cut off", rate, minimum))
                }
            }
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), grace: grace, minimum: minimum, cutOff: cutOff)
    }
}
