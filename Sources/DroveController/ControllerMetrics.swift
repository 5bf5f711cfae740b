import DroveEngine
import DrovePlan
import Metrics

/// What the controller records through swift-metrics; `drove serve` routes it into its
/// Prometheus registry. Names and labels match the server's `DroveMetrics` list (docs/api.md).
enum ControllerMetrics {
    static func reconciled(_ duration: Duration, result: String) {
        Timer(label: "drove_reconcile_duration_seconds", dimensions: [("result", result)]).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    static func queueDepth(_ depth: Int) {
        Gauge(label: "drove_queue_depth").record(depth)
    }

    static func action(_ verb: String, succeeded: Bool) {
        Counter(label: "drove_actions_total", dimensions: [("action", verb), ("result", succeeded ? "succeeded" : "failed")]).increment()
    }

    static func copied(_ bytes: UInt64, host: String) {
        Counter(label: "drove_template_bytes_copied_total", dimensions: [("host", host)]).increment(by: Int64(bytes))
    }

    static func hosts(reachable: Int, declared: Int) {
        Gauge(label: "drove_hosts_reachable").record(reachable)
        Gauge(label: "drove_hosts_declared").record(declared)
    }

    /// Drove's VMs on the hosts that answer, by phase.
    static func vms(_ fleet: ObservedFleet) {
        var running = 0, stopped = 0
        for host in fleet.hosts.values {
            for vm in host.vms.values {
                if vm.state == .running { running += 1 } else { stopped += 1 }
            }
        }
        Gauge(label: "drove_vms", dimensions: [("phase", "Running")]).record(running)
        Gauge(label: "drove_vms", dimensions: [("phase", "Stopped")]).record(stopped)
    }

    /// Counts each finished action, and the data bytes of each finished template copy.
    static func record(_ event: ExecutionEvent, copied: inout [Int: UInt64]) {
        switch event {
        case let .progress(action, stats):
            copied[action.id] = stats.dataBytes
        case let .succeeded(action, _):
            Self.action(action.verb, succeeded: true)
            if case .copyTemplate = action.kind, let bytes = copied.removeValue(forKey: action.id) {
                Self.copied(bytes, host: action.host)
            }
        case let .failed(action, _, retrying):
            if !retrying { Self.action(action.verb, succeeded: false) }
        default:
            break
        }
    }
}
