import DroveEngine
import DrovePlan
import DroveStore
import Foundation
import Synchronization

/// What the controller is doing to each VM right now, from the executor's events: the phases a
/// snapshot of the fleet cannot tell (a disk being made, a start issued, a removal under way,
/// the last failure).
final class VMPhaseBook: Sendable {
    enum Activity: Sendable, Equatable {
        case creating, starting, terminating
        case failed(String)
    }

    struct Entry: Sendable, Equatable {
        var activity: Activity
        var host: String
    }

    private let entries = Mutex([String: Entry]())

    func note(_ event: ExecutionEvent) {
        switch event {
        case let .started(action):
            guard let (vm, activity) = Self.activity(of: action.kind) else { return }
            entries.withLock { $0[vm] = Entry(activity: activity, host: action.host) }
        case let .succeeded(action, _):
            // Done: the view tells the rest. A new disk is only half of making the VM.
            guard let (vm, _) = Self.activity(of: action.kind) else { return }
            if case .createDisk = action.kind { return }
            entries.withLock { _ = $0.removeValue(forKey: vm) }
        case let .failed(action, error, retrying):
            guard !retrying, let (vm, _) = Self.activity(of: action.kind) else { return }
            entries.withLock { $0[vm] = Entry(activity: .failed(error.description), host: action.host) }
        default:
            break
        }
    }

    /// Marks a VM Failed from outside the executor (a readiness timeout).
    func fail(_ vm: String, on host: String, because message: String) {
        entries.withLock { $0[vm] = Entry(activity: .failed(message), host: host) }
    }

    func entry(_ vm: String) -> Entry? {
        entries.withLock { $0[vm] }
    }

    private static func activity(of kind: Action.Kind) -> (String, Activity)? {
        switch kind {
        case let .createDisk(vm), let .defineVM(vm): (vm.name, .creating)
        case let .startVM(name), let .restoreVM(name, _): (name, .starting)
        case let .removeVM(name): (name, .terminating)
        case .stopVM, .copyTemplate, .deleteVolume, .deleteTemplateCopy, .makeGolden, .deleteGolden: nil
        }
    }
}

/// Template copies under way and failed, per template and host, from the executor's events:
/// what a template's status shows beside the copies the view holds.
final class TemplateCopyBook: Sendable {
    private struct Copy {
        var status: TemplateCopyStatus
        var started: ContinuousClock.Instant
    }

    private struct State {
        var copies: [String: [String: Copy]] = [:] // template name → host → copy
        var lastWritten: [String: ContinuousClock.Instant] = [:]
        /// The status last written for each template, so an unchanged one is not written again.
        var written: [String: StatusUpdate] = [:]
    }

    private let state = Mutex(State())

    /// Notes a copy's progress; returns the template whose status should be written now (at most
    /// once a second while bytes flow, at once when a copy starts, ends or fails).
    func note(_ event: ExecutionEvent) -> String? {
        let now = ContinuousClock.now
        return state.withLock { state -> String? in
            switch event {
            case let .started(action):
                guard case let .copyTemplate(image) = action.kind else { return nil }
                state.copies[image.name, default: [:]][action.host] = Copy(
                    status: TemplateCopyStatus(state: .copying, bytes: 0, totalBytes: image.fileBytes), started: now)
                state.lastWritten[image.name] = now
                return image.name
            case let .progress(action, stats):
                guard case let .copyTemplate(image) = action.kind, var copy = state.copies[image.name]?[action.host] else { return nil }
                copy.status.bytes = stats.totalBytes
                let seconds = Double((now - copy.started).components.attoseconds) / 1e18 + Double((now - copy.started).components.seconds)
                if seconds > 0 { copy.status.bytesPerSecond = UInt64(Double(stats.totalBytes) / seconds) }
                state.copies[image.name]![action.host] = copy
                if let last = state.lastWritten[image.name], now - last < .seconds(1) { return nil }
                state.lastWritten[image.name] = now
                return image.name
            case let .succeeded(action, _), let .joined(action, _):
                guard case let .copyTemplate(image) = action.kind else { return nil }
                state.copies[image.name]?[action.host] = nil
                return image.name
            case let .failed(action, error, retrying):
                guard !retrying, case let .copyTemplate(image) = action.kind else { return nil }
                state.copies[image.name, default: [:]][action.host] = Copy(
                    status: TemplateCopyStatus(state: .failed, totalBytes: image.fileBytes, message: error.description), started: now)
                return image.name
            case .skipped, .noted:
                return nil
            }
        }
    }

    /// Whether `update` differs from what was last written for `template`.
    func differs(_ template: String, _ update: StatusUpdate) -> Bool {
        state.withLock { $0.written[template] != update }
    }

    func written(_ template: String, _ update: StatusUpdate) {
        state.withLock { $0.written[template] = update }
    }

    /// Copies under way or failed for `template`, by host.
    func copies(of template: String) -> [String: TemplateCopyStatus] {
        state.withLock { $0.copies[template]?.mapValues(\.status) ?? [:] }
    }
}
