import Logging
import Synchronization
import Testing
@testable import DroveQueue

/// Waits, yielding, until `condition` holds; records an issue if it never does. Counts turns,
/// not time: the suite's time limit is the backstop.
func eventually(
    _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async -> Bool
) async {
    for _ in 0..<200_000 {
        if await condition() { return }
        await Task.yield()
    }
    Issue.record(comment ?? "condition never became true", sourceLocation: sourceLocation)
}

extension Logger {
    /// A logger that drops everything.
    static let quiet = Logger(label: "drove.queue.test", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// An in-memory log handler: tests read what was logged.
final class LogRecorder: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let storage = Mutex<[Entry]>([])

    var entries: [Entry] { storage.withLock { $0 } }

    var logger: Logger {
        Logger(label: "drove.queue.test", factory: { _ in Handler(recorder: self) })
    }

    fileprivate func append(_ entry: Entry) { storage.withLock { $0.append(entry) } }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.append(Entry(level: event.level, message: event.message.description,
                                  metadata: merged.mapValues(\.description)))
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension WorkQueue {
    /// Takes the next key, which the caller expects to be there already (fails the test rather
    /// than wait for one).
    func nextWaiting(sourceLocation: SourceLocation = #_sourceLocation) async -> Key? {
        guard depth > 0 else {
            Issue.record("no key is waiting", sourceLocation: sourceLocation)
            return nil
        }
        return await next()
    }
}
