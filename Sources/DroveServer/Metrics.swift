import Prometheus

/// The metrics `GET /metrics` shows, and how they get into the registry.
///
/// The server records its own (`drove_api_*`) straight into the registry. The controller
/// records through swift-metrics (`Timer`, `Counter`, `Gauge`/`Meter` from `CoreMetrics`), and
/// `drove serve` bootstraps the metrics system once with `DroveMetrics.factory(registry:)`, so
/// both end up in the same registry. Names are listed here and in docs/api.md.
///
/// Prometheus' registry stops the process on a name registered twice with different types,
/// help texts or label names, or once with labels and once without: record each name always
/// with the labels listed here.
public enum DroveMetrics {
    // Recorded by the controller (swift-metrics).

    /// Timer; label `result` (`success`, `requeue`, `error`). One reconcile of one key.
    public static let reconcileDuration = "drove_reconcile_duration_seconds"
    /// Gauge (a `Meter`, or `Gauge`); no labels. Keys waiting in the work queue.
    public static let queueDepth = "drove_queue_depth"
    /// Counter; labels `action` (`Action.verb`: `copy-template`, `create-disk`, `define`,
    /// `start`, `stop`, `remove`, `delete-volume`, `delete-template`) and `result`
    /// (`succeeded`, `failed`).
    public static let actions = "drove_actions_total"
    /// Counter; label `host`. Template bytes uploaded to hosts (holes not counted).
    public static let bytesCopied = "drove_template_bytes_copied_total"
    /// Gauge; label `phase` (`VMPhase` raw values). VMs Drove knows of, by phase.
    public static let vms = "drove_vms"
    /// Gauge; no labels. Declared hosts that answer now.
    public static let hostsReachable = "drove_hosts_reachable"
    /// Gauge; no labels. Declared hosts.
    public static let hostsDeclared = "drove_hosts_declared"

    // Recorded by GitSync (swift-metrics).

    /// Timer; labels `source` (a GitSource's name) and `result` (`applied`, `failed`). One sync:
    /// fetch, read, validate, apply.
    public static let gitSyncDuration = "drove_gitsource_sync_duration_seconds"
    /// Counter; labels `source` and `reason` (the Ready reason: `FetchFailed`, `RefNotFound`,
    /// `InvalidRevision`, `OwnershipConflict`, `PruneRefused`, `ApplyFailed`). Syncs that
    /// applied nothing.
    public static let gitSyncFailures = "drove_gitsource_sync_failures_total"
    /// Gauge; label `source`. Seconds since the applied revision was committed, as of the
    /// source's last sync.
    public static let gitRevisionAge = "drove_gitsource_revision_age_seconds"

    // Recorded by the server itself.

    /// Counter; labels `method`, `status`. Every answered request.
    public static let apiRequests = "drove_api_requests_total"
    /// Gauge; no labels. Watch streams open now.
    public static let watchStreams = "drove_api_watch_streams"

    /// Buckets for the reconcile timer: a converged pass takes milliseconds, a rollout with
    /// template copies seconds to minutes.
    public static let reconcileBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120), .seconds(300),
    ]

    /// The swift-metrics backend that writes into `registry`, with Drove's histogram buckets.
    /// `drove serve` passes it to `MetricsSystem.bootstrap` once, before the controller starts.
    public static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[reconcileDuration] = reconcileBuckets
        factory.durationHistogramBuckets[gitSyncDuration] = reconcileBuckets
        return factory
    }
}

/// The server's own metrics, registered with help texts when the application is built.
struct ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let watchStreams: Gauge

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        watchStreams = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "drove", subsystem: "api", metricName: "watch", unitName: "streams", helpText: "Watch streams open now."))
    }

    static var requests: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "drove", subsystem: "api", metricName: "requests", unitName: "total",
        helpText: "HTTP requests answered, by method and status.") }

    func countRequest(method: String, status: Int) {
        registry.makeCounter(descriptor: Self.requests, labels: [("method", method), ("status", String(status))]).increment()
    }
}
