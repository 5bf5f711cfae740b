import Metrics

/// What syncing records through swift-metrics; `drove serve` routes it into its Prometheus
/// registry. Names and labels match the server's `DroveMetrics` list (docs/api.md).
enum GitOpsMetrics {
    /// One sync (fetch, read, validate, apply); a refused one also counts as a failure, by reason.
    static func synced(_ duration: Duration, source: String, failure: String?) {
        Timer(label: "drove_gitsource_sync_duration_seconds", dimensions: [("source", source), ("result", failure == nil ? "applied" : "failed")])
            .recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        if let failure {
            Counter(label: "drove_gitsource_sync_failures_total", dimensions: [("source", source), ("reason", failure)]).increment()
        }
    }

    /// How old the applied revision is: seconds since it was committed, as of the last sync.
    static func revisionAge(_ seconds: Double, source: String) {
        Gauge(label: "drove_gitsource_revision_age_seconds", dimensions: [("source", source)]).record(max(0, seconds))
    }
}
