import DroveAPI
import DroveManifest
import Foundation

/// What `drove wait` and `apply --wait` wait for.
public enum WaitCondition: Equatable, Sendable, CustomStringConvertible {
    /// The condition has the status (`True` for `condition=Ready`), for the current generation.
    /// A VM set is Ready when every replica is made from its current spec and ready, by its
    /// guest's word where the template can tell.
    case condition(type: String, status: String)
    /// A VM set's replicas are all made from the current spec and running, ready or not (what
    /// Ready meant before guests could say so); any other object: Ready.
    case running
    /// The object is gone (pruned by the controller).
    case deleted
    /// A GitSource has synced since `after` and settled: its revision applied and the fleet
    /// converged on it, or the revision refused (Ready False, for the caller to report).
    case synced(after: Date)

    public var description: String {
        switch self {
        case let .condition(type, status): "\(type)=\(status)"
        case .running: "running"
        case .deleted: "deletion"
        case .synced: "a sync and convergence"
        }
    }

    /// Whether `object` (nil: not found) meets the condition.
    public func isMet(by object: APIObject?) -> Bool {
        switch self {
        case .deleted:
            return object == nil
        case let .condition(type, status):
            guard let object, !object.deletionRequested, let observed = object.status,
                  observed.observedGeneration >= object.generation else { return false }
            return observed.condition(type)?.status == status
        case let .synced(after):
            guard let object, !object.deletionRequested, let observed = object.status, observed.observedGeneration >= object.generation,
                  let git = observed.git, let synced = git.lastSyncAt, synced >= after else { return false }
            let ready = observed.condition("Ready")?.status
            return ready == "False" || (ready == "True" && git.converged)
        case .running:
            guard let object, object.kind == ObjectKind.vmSet.rawValue else {
                return WaitCondition.condition(type: "Ready", status: "True").isMet(by: object)
            }
            guard !object.deletionRequested, let observed = object.status, observed.observedGeneration >= object.generation,
                  let desired = observed.counters["desired"] else { return false }
            return observed.counters["running"] == desired && observed.counters["updated"] == desired
        }
    }
}

/// Waits for objects to meet a condition: it watches the API's change stream and reads an
/// object again whenever a change names it, and also reads every pending object every few
/// seconds, so a dropped stream only slows it down.
public struct ObjectWaiter {
    public let client: APIClient
    public let condition: WaitCondition
    /// Called with each pending object whenever it was read and looks different.
    public var progress: (ObjectReference, APIObject?) -> Void = { _, _ in }

    static let recheckInterval: Duration = .seconds(3)

    public init(client: APIClient, condition: WaitCondition) {
        self.client = client
        self.condition = condition
    }

    /// - Returns: the objects that did not meet the condition in time (empty: all did), with
    ///   what was last read of each.
    public func wait(for references: [ObjectReference], timeout: Duration) async throws(ClientError) -> [(ObjectReference, APIObject?)] {
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
            let object = try await client.objectIfPresent(reference)
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
            if pending.isEmpty { break }
        }
        return pending.keys.sorted().map { ($0, pending[$0] ?? nil) }
    }

    /// Why `object` is not there yet, for the timeout message.
    public static func reason(_ object: APIObject?, condition: WaitCondition) -> String {
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
