import DroveAPI
import DroveManifest
import DroveServer
import Foundation

/// What `wait` and `apply --wait` wait for.
enum WaitCondition: Equatable, CustomStringConvertible {
    /// The condition has the status (`True` for `condition=Ready`), for the current generation.
    case condition(type: String, status: String)
    /// The object is gone (pruned by the controller).
    case deleted

    /// `condition=Ready`, `condition=Degraded=False`, `delete`.
    init?(argument: String) {
        if argument == "delete" || argument == "deleted" {
            self = .deleted
            return
        }
        guard argument.lowercased().hasPrefix("condition=") else { return nil }
        let parts = argument.dropFirst("condition=".count).split(separator: "=", omittingEmptySubsequences: false)
        guard let type = parts.first, !type.isEmpty, parts.count <= 2 else { return nil }
        let status = parts.count == 2 ? String(parts[1]) : "True"
        guard ["true", "false", "unknown"].contains(status.lowercased()) else { return nil }
        self = .condition(type: Self.capitalized(String(type)), status: Self.capitalized(status))
    }

    private static func capitalized(_ word: String) -> String {
        word.prefix(1).uppercased() + word.dropFirst().lowercased()
    }

    var description: String {
        switch self {
        case let .condition(type, status): "\(type)=\(status)"
        case .deleted: "deletion"
        }
    }

    /// Whether `object` (nil: not found) meets the condition.
    func isMet(by object: APIObject?) -> Bool {
        switch self {
        case .deleted:
            return object == nil
        case let .condition(type, status):
            guard let object, !object.deletionRequested, let observed = object.status,
                  observed.observedGeneration >= object.generation else { return false }
            return observed.condition(type)?.status == status
        }
    }
}

/// Waits for objects to meet a condition: it watches the API's change stream and reads an
/// object again whenever a change names it, and also reads every pending object every few
/// seconds, so a dropped stream only slows it down.
struct ObjectWaiter {
    let client: APIClient
    let condition: WaitCondition
    /// Called with each pending object whenever it was read and looks different.
    var progress: (ObjectReference, APIObject?) -> Void = { _, _ in }

    static let recheckInterval: Duration = .seconds(3)

    /// - Returns: the objects that did not meet the condition in time (empty: all did), with
    ///   what was last read of each.
    func wait(for references: [ObjectReference], timeout: Duration) async throws(ClientError) -> [(ObjectReference, APIObject?)] {
        var pending: [ObjectReference: APIObject?] = [:]
        for reference in references { pending[reference] = .some(nil) }
        let deadline = ContinuousClock.now + timeout

        enum Signal: Sendable {
            case changed(ObjectReference)
            case tick
            case timeout
        }
        let (signals, continuation) = AsyncStream.makeStream(of: Signal.self)
        let watcher = Task { [client] in
            // Watch until cancelled; after a dropped stream, try again in a moment.
            while !Task.isCancelled {
                do {
                    for try await message in client.watch() {
                        if let (kind, name) = message.object, let objectKind = ObjectKind(rawValue: kind) {
                            continuation.yield(.changed(ObjectReference(kind: objectKind, name: name)))
                        }
                    }
                } catch {}
                try? await Task.sleep(for: .seconds(1))
            }
        }
        let ticker = Task {
            while ContinuousClock.now < deadline {
                try? await Task.sleep(for: min(Self.recheckInterval, deadline - ContinuousClock.now))
                if Task.isCancelled { return }
                continuation.yield(.tick)
            }
            continuation.yield(.timeout)
        }
        defer {
            watcher.cancel()
            ticker.cancel()
            continuation.finish()
        }

        var last: [ObjectReference: APIObject?] = [:]
        func check(_ reference: ObjectReference) async throws(ClientError) {
            let object = try await read(reference)
            if condition.isMet(by: object) {
                pending[reference] = nil
                if last[reference] != .some(object) { progress(reference, object) }
            } else {
                pending[reference] = .some(object)
                if last[reference] != .some(object) { progress(reference, object) }
            }
            last[reference] = .some(object)
        }

        for reference in references { try await check(reference) }
        for await signal in signals {
            if pending.isEmpty { break }
            switch signal {
            case let .changed(reference):
                if pending.keys.contains(reference) { try await check(reference) }
            case .tick:
                for reference in pending.keys.sorted() { try await check(reference) }
            case .timeout:
                for reference in pending.keys.sorted() { try await check(reference) }
                return pending.keys.sorted().map { ($0, pending[$0] ?? nil) }
            }
        }
        return pending.keys.sorted().map { ($0, pending[$0] ?? nil) }
    }

    /// The object, or nil when the API says it does not exist.
    func read(_ reference: ObjectReference) async throws(ClientError) -> APIObject? {
        do {
            return try await client.get("\(APIPaths.base)/\(APIPaths.segment(reference.kind))/\(reference.name)", as: APIObject.self)
        } catch {
            if error.status == 404 { return nil }
            throw error
        }
    }

    /// Why `object` is not there yet, for the timeout message.
    static func reason(_ object: APIObject?, condition: WaitCondition) -> String {
        guard let object else { return condition == .deleted ? "" : "not found" }
        if condition == .deleted { return object.deletionRequested ? "still being deleted" : "not being deleted" }
        guard let status = object.status else { return "the controller has not reported on it yet" }
        if status.observedGeneration < object.generation {
            return "the controller has not yet acted on generation \(object.generation) (it observed \(status.observedGeneration))"
        }
        let described = status.conditions.map { condition in
            "\(condition.type)=\(condition.status)" + (condition.reason.isEmpty ? "" : " (\(condition.reason)\(condition.message.isEmpty ? "" : ": \(condition.message)"))")
        }
        return described.isEmpty ? "no conditions reported" : described.joined(separator: ", ")
    }
}
