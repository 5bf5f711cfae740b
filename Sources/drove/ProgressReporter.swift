import DroveEngine
import DroveHost
import DrovePlan
import Foundation
import Libvirt
import Synchronization

/// Prints a converge run as it goes: each pass, each finished action with its host and time,
/// transfers with rate and ETA, failures with their cause.
final class ProgressReporter: Sendable {
    private struct Transfer {
        var started: ContinuousClock.Instant
        var total: UInt64
        var lastPrinted: ContinuousClock.Instant
    }

    private struct State {
        var transfers: [Int: Transfer] = [:]
        var counts: [String: Int] = [:]
        var lastReady: Int?
    }

    private let state = Mutex(State())
    private let clock = ContinuousClock()

    /// Actions that succeeded, by verb.
    var counts: [String: Int] { state.withLock { $0.counts } }

    func handle(_ event: ConvergeEvent) {
        switch event {
        case let .observed(pass, fleet):
            let reachable = fleet.hosts.values.filter(\.isReachable).count
            let vms = fleet.hosts.values.reduce(0) { $0 + $1.vms.count }
            Terminal.status("pass \(pass): observed \(fleet.hosts.count) hosts (\(reachable) reachable), \(vms) Drove VMs")
        case let .planned(_, plan):
            if !plan.isEmpty {
                let verbs = Dictionary(grouping: plan.actions, by: \.verb).map { "\($0.value.count) \($0.key)" }.sorted()
                Terminal.status("  plan: \(plan.actions.count) actions (\(verbs.joined(separator: ", ")))")
            }
        case let .execution(event):
            handle(event)
        case let .waitingForGuests(ready, wanted):
            let changed = state.withLock { state in
                defer { state.lastReady = ready }
                return state.lastReady != ready
            }
            if changed { Terminal.status("  waiting for guests: \(ready) of \(wanted) ready") }
        }
    }

    private func handle(_ event: ExecutionEvent) {
        switch event {
        case let .started(action):
            if case let .copyTemplate(image) = action.kind {
                state.withLock { $0.transfers[action.id] = Transfer(started: clock.now, total: image.fileBytes, lastPrinted: clock.now) }
                Terminal.status("  \(action.host)  copying template \(image.name)@\(image.digest.prefix(12)) (\(Terminal.bytes(image.fileBytes)) file)")
            }
        case let .progress(action, stats):
            progress(action, stats)
        case let .succeeded(action, duration):
            Terminal.clearTransient()
            state.withLock { $0.transfers[action.id] = nil; $0.counts[action.verb, default: 0] += 1 }
            Terminal.status("  \(action.host)  ✓ \(describe(action)) (\(Terminal.duration(duration)))")
        case let .noted(action, note):
            Terminal.status("  \(action.host)  ! \(action.summary): \(note)")
        case let .joined(action, duration):
            Terminal.clearTransient()
            Terminal.status("  \(action.host)  ✓ \(describe(action)) (joined a copy under way, \(Terminal.duration(duration)))")
        case let .failed(action, error, retrying):
            Terminal.clearTransient()
            Terminal.status("  \(action.host)  ✗ \(action.summary): \(error.cause)\(retrying ? " (retrying)" : "")")
        case let .skipped(action, blocker):
            Terminal.status("  \(action.host)  - skipped \(action.summary): action \(blocker) failed")
        }
    }

    private func describe(_ action: Action) -> String {
        switch action.kind {
        case let .createDisk(vm): "created disk of \(vm.name), \(vm.diskOrigin)"
        case let .copyTemplate(image): "copied template \(image.name)@\(image.digest.prefix(12))"
        case let .defineVM(vm): "defined \(vm.name)"
        case let .startVM(name): "started \(name)"
        case let .stopVM(name): "stopped \(name)"
        case let .removeVM(name): "removed \(name)"
        case let .deleteVolume(name): "deleted volume \(name)"
        case let .deleteTemplateCopy(digest, _): "deleted template copy \(digest.prefix(12))"
        case let .makeGolden(golden): "made golden snapshot \(golden.name.key) of \(golden.template.name)@\(golden.template.digest.prefix(12))"
        case let .restoreVM(name, golden): "started \(name), restored from golden snapshot \(golden)"
        case let .deleteGolden(golden): "deleted golden snapshot \(golden.key)"
        }
    }

    /// A bar on a terminal; elsewhere a line every five seconds.
    private func progress(_ action: Action, _ stats: TransferStats) {
        let now = clock.now
        let line: String? = state.withLock { state in
            guard var transfer = state.transfers[action.id] else { return nil }
            let elapsed = max(0.001, Double((now - transfer.started).components.attoseconds) / 1e18
                + Double((now - transfer.started).components.seconds))
            let done = stats.totalBytes
            let fraction = transfer.total == 0 ? 1 : min(1, Double(done) / Double(transfer.total))
            let rate = Double(stats.dataBytes) / elapsed
            let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
            let filled = Int(fraction * 24)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 24 - filled)
            let text = "  \(action.host)  [\(bar)] \(Int(fraction * 100))% \(Terminal.bytes(done))/\(Terminal.bytes(transfer.total)) "
                + "\(Terminal.bytes(UInt64(rate)))/s data, ETA \(Int(eta))s"
            if Terminal.isInteractive { return text }
            guard now - transfer.lastPrinted >= .seconds(5) else { return nil }
            transfer.lastPrinted = now
            state.transfers[action.id] = transfer
            return text
        }
        guard let line else { return }
        if Terminal.isInteractive { Terminal.transient(line) } else { Terminal.status(line) }
    }
}
