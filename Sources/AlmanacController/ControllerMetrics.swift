import AlmanacControl
import CoreMetrics

/// What the placement controller exports through swift-metrics (the node's `/metrics` when `serve
/// --metrics-listen` bootstraps the process-wide backend; names in docs/operations.md):
/// - `almanac_controller_decisions_total{action, outcome}`: every decision filed in the audit, by
///   kind of action and by outcome class (`applied`, `prepared`, `scheduled`, `shadow`, `failed`,
///   `dropped`);
/// - `almanac_migrations_total{kind}`, `almanac_migrations_failed_total{kind}` and
///   `almanac_migration_duration_seconds{kind}`: the moves it carries out (`leadership`, `replica`
///   from prepare to commit, `split`, `merge`), their failures (an error, or a move its driver
///   rolled back) and the durations of those that completed;
/// - `almanac_forecast_error_wape` and `almanac_forecast_error_bound`: the predictive policy's
///   forecast error over the last complete bucket and the bound above which it falls back to the
///   reactive policy.
/// Moves run by `ctl migrate` or `ctl reshard` are carried out in the `ctl` process, not here.
struct ControllerMetrics: Sendable {
    let factory: any MetricsFactory

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    /// The kinds of move (the `kind` label).
    enum MoveKind: String, CaseIterable {
        case leadership, replica, split, merge
    }

    /// The `action` label of a decision: its kind without shard or segment numbers.
    static func actionLabel(_ action: String) -> String {
        switch action {
        case "transfer leadership": "transfer_leadership"
        case "prepare replica move": "prepare_replica_move"
        case "commit replica move": "commit_replica_move"
        case "abort replica move": "abort_replica_move"
        case let text where text.hasPrefix("split"): "split"
        case let text where text.hasPrefix("merge"): "merge"
        default: "other"
        }
    }

    /// The `outcome` label: the first word of the audit's outcome text.
    static func outcomeLabel(_ outcome: String) -> String {
        let word = outcome.prefix { $0.isLetter }.lowercased()
        return ["applied", "prepared", "scheduled", "shadow", "failed", "dropped", "decided"].contains(word) ? word : "other"
    }

    func decided(_ decisions: [ControllerDecision]) {
        for decision in decisions {
            Counter(label: "almanac_controller_decisions_total",
                    dimensions: [("action", Self.actionLabel(decision.action)), ("outcome", Self.outcomeLabel(decision.outcome))],
                    factory: factory).increment()
        }
    }

    func moveStarted(_ kind: MoveKind) {
        Counter(label: "almanac_migrations_total", dimensions: [("kind", kind.rawValue)], factory: factory).increment()
    }

    func moveFailed(_ kind: MoveKind) {
        Counter(label: "almanac_migrations_failed_total", dimensions: [("kind", kind.rawValue)], factory: factory).increment()
    }

    /// A move that returned: rolled back (its driver undid it) counts as failed, else its duration
    /// is recorded.
    func moveFinished(_ kind: MoveKind, rolledBack: Bool, after duration: Duration) {
        if rolledBack {
            moveFailed(kind)
        } else {
            moveCompleted(kind, after: duration)
        }
    }

    func moveCompleted(_ kind: MoveKind, after duration: Duration) {
        let nanoseconds = duration.components.seconds &* 1_000_000_000 &+ duration.components.attoseconds / 1_000_000_000
        Timer(label: "almanac_migration_duration_seconds", dimensions: [("kind", kind.rawValue)], factory: factory)
            .recordNanoseconds(nanoseconds)
    }

    func forecastError(lastBucket: Double?, bound: Double) {
        if let lastBucket {
            Gauge(label: "almanac_forecast_error_wape", factory: factory).record(lastBucket)
        }
        Gauge(label: "almanac_forecast_error_bound", factory: factory).record(bound)
    }
}
