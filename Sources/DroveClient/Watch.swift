import DroveAPI
import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One server-sent event of `GET /api/v1/watch`.
public struct WatchMessage: Sendable {
    /// `object`, `status` or `event`.
    public var event: String
    /// The JSON payload.
    public var data: String
    /// The event-log id, for `event` messages.
    public var id: Int64?

    /// The payload as `type` (`APIObjectChange`, `APIStatusChange`, `APIEvent`), or nil if it
    /// is not one.
    public func decode<T: Decodable>(_ type: T.Type) -> T? {
        try? APIJSON.decoder().decode(T.self, from: Data(data.utf8))
    }

    /// The object the message is about.
    public var object: (kind: String, name: String)? {
        switch event {
        case "object": decode(APIObjectChange.self).map { ($0.kind, $0.name) }
        case "status": decode(APIStatusChange.self).map { ($0.kind, $0.name) }
        case "event": decode(APIEvent.self).map { ($0.kind, $0.name) }
        default: nil
        }
    }
}

extension APIClient {
    /// The watch stream, message by message, until the server ends it or the caller stops
    /// iterating. Throws `ClientError` when the server cannot be reached or refuses.
    public func watch(after: Int64? = nil) -> AsyncThrowingStream<WatchMessage, any Error> {
        AsyncThrowingStream { continuation in
            let delegate = EventStreamDelegate(continuation: continuation, server: server.absoluteString)
            let session = URLSession(configuration: .default, delegate: delegate, delegateQueue: nil)
            var request = URLRequest(url: url("\(APIPaths.base)/watch", query: after.map { ["after": String($0)] } ?? [:]))
            request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
            // The server sends a heartbeat every 15 s; a minute of silence means it is gone.
            request.timeoutInterval = 60
            let task = session.dataTask(with: request)
            continuation.onTermination = { _ in
                task.cancel()
                session.invalidateAndCancel()
            }
            task.resume()
        }
    }
}

/// Parses a `text/event-stream` body as it arrives and yields its messages.
///
/// `@unchecked Sendable`: URLSession calls it on its own delegate queue; its only mutable
/// state (the partial line and message) is behind a `Mutex`, and the continuation is Sendable.
final class EventStreamDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private struct Parser {
        var pending = Data()
        var event = "message"
        var data: [String] = []
        var id: Int64?
        /// The body of an error answer, collected whole.
        var errorStatus: Int?
        var errorBody = Data()
    }

    private let continuation: AsyncThrowingStream<WatchMessage, any Error>.Continuation
    private let server: String
    private let parser = Mutex(Parser())

    init(continuation: AsyncThrowingStream<WatchMessage, any Error>.Continuation, server: String) {
        self.continuation = continuation
        self.server = server
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
            parser.withLock { $0.errorStatus = http.statusCode }
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let messages = parser.withLock { parser -> [WatchMessage] in
            if parser.errorStatus != nil {
                parser.errorBody += data
                return []
            }
            parser.pending += data
            var messages: [WatchMessage] = []
            while let newline = parser.pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = String(decoding: parser.pending[parser.pending.startIndex..<newline], as: UTF8.self)
                parser.pending = Data(parser.pending[parser.pending.index(after: newline)...])
                if line.hasSuffix("\r") { line.removeLast() }
                if line.isEmpty {
                    if !parser.data.isEmpty {
                        messages.append(WatchMessage(event: parser.event, data: parser.data.joined(separator: "\n"), id: parser.id))
                    }
                    parser.event = "message"
                    parser.data = []
                    parser.id = nil
                    continue
                }
                if line.hasPrefix(":") { continue }
                let (field, value) = Self.field(line)
                switch field {
                case "event": parser.event = value
                case "data": parser.data.append(value)
                case "id": parser.id = Int64(value)
                default: break
                }
            }
            return messages
        }
        for message in messages { continuation.yield(message) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let failure = parser.withLock { parser in parser.errorStatus.map { ($0, parser.errorBody) } }
        if let (status, body) = failure {
            continuation.finish(throwing: APIClient.apiError(status: status, body: body, server: server))
        } else if let error, (error as? URLError)?.code != .cancelled {
            continuation.finish(throwing: ClientError.unreachable(server: server, reason: APIClient.reason(error)))
        } else {
            continuation.finish()
        }
        session.finishTasksAndInvalidate()
    }

    /// `field: value` (one optional space after the colon).
    private static func field(_ line: String) -> (String, String) {
        guard let colon = line.firstIndex(of: ":") else { return (line, "") }
        var value = line[line.index(after: colon)...]
        if value.first == " " { value = value.dropFirst() }
        return (String(line[..<colon]), String(value))
    }
}
