import DroveAPI
import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension APIClient {
    /// `PUT /api/v1/templates/{name}/image`: streams `file` to the template store (URLSession
    /// reads it from disk as it sends; it is never held in memory) and answers what was stored.
    /// `progress` gets the bytes sent so far and the file's size.
    public func pushTemplate(
        file: String, name: String, format: String, visibility: String,
        progress: @escaping @Sendable (_ sent: Int64, _ total: Int64) -> Void
    ) async throws(ClientError) -> APITemplatePushResponse {
        var request = URLRequest(url: url(APIPaths.templateImage(name), query: ["format": format, "visibility": visibility]))
        request.httpMethod = "PUT"
        request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        // After the last byte the server hashes, syncs and inspects the image before answering.
        request.timeoutInterval = 600
        let upload = UploadDelegate(progress: progress)
        let session = URLSession(configuration: .default, delegate: upload, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let data: Data, response: URLResponse?
        do {
            (data, response) = try await upload.run(session.uploadTask(with: request, fromFile: URL(fileURLWithPath: file)))
        } catch {
            throw .unreachable(server: server.absoluteString, reason: Self.reason(error))
        }
        guard let http = response as? HTTPURLResponse else { throw .badResponse(server: server.absoluteString, reason: "not an HTTP answer") }
        guard (200..<300).contains(http.statusCode) else { throw Self.apiError(status: http.statusCode, body: data, server: server.absoluteString) }
        return try decode(APITemplatePushResponse.self, data)
    }
}

/// One upload task's events: progress as bytes go out, then the answer.
private final class UploadDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private struct State {
        var body = Data()
        var waiter: CheckedContinuation<(Data, URLResponse?), any Error>?
    }

    private let state = Mutex(State())
    private let progress: @Sendable (Int64, Int64) -> Void

    init(progress: @escaping @Sendable (Int64, Int64) -> Void) {
        self.progress = progress
    }

    func run(_ task: URLSessionUploadTask) async throws -> (Data, URLResponse?) {
        try await withCheckedThrowingContinuation { continuation in
            state.withLock { $0.waiter = continuation }
            task.resume()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didSendBodyData bytesSent: Int64, totalBytesSent: Int64,
                    totalBytesExpectedToSend: Int64) {
        progress(totalBytesSent, totalBytesExpectedToSend)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        state.withLock { $0.body.append(data) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (waiter, body) = state.withLock { state in
            defer { state.waiter = nil }
            return (state.waiter, state.body)
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: (body, task.response)) }
    }
}
