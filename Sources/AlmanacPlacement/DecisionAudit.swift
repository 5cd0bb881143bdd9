import AlmanacKeyspace
/// One audited placement decision: its inputs, predicted gain, cost and confidence, and, once its
/// window has been observed, the realized gain. Gains and costs are in op-milliseconds (latency saved,
/// summed over operations).
public struct AuditEntry: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case leadershipTransfer, replicaMove }
    public enum Outcome: String, Sendable, Hashable { case pending, applied, failed, aborted, shadow }

    public var id: Int
    public var time: Double
    public var shard: ShardID
    public var segments: Range<SegmentID>
    public var kind: Kind
    /// True when the planner ran in shadow mode (the decision was not executed).
    public var shadow: Bool
    /// Inputs: current and target configuration, forecast ops over the window, lead time.
    public var fromVoters: [ReplicaPlacement]
    public var fromLeader: NodeIndex
    public var toVoters: [ReplicaPlacement]
    public var toLeader: NodeIndex
    public var forecastOps: Double
    public var leadTimeSeconds: Double
    public var windowStart: Double
    public var windowEnd: Double
    public var moveIDs: [MoveID]
    /// Gain predicted from the pessimistic side of the forecast interval (what the decision rested on).
    public var predictedGainOpMs: Double
    /// Gain predicted from the point forecast.
    public var pointGainOpMs: Double
    public var costOpMs: Double
    /// Share of the point-forecast gain that survives the pessimistic bound (0...1).
    public var confidence: Double
    public var outcome: Outcome
    /// Realized gain (same estimator on the observed operations, minus the cost); nil until settled.
    public var realizedGainOpMs: Double?
    /// True when the window was cut short by the end of the run.
    public var realizedPartial: Bool = false
}

/// The decision audit log (a value; the policy owns it).
public struct DecisionAudit: Sendable {
    public private(set) var entries: [AuditEntry] = []

    public init() {}

    @discardableResult
    public mutating func record(_ make: (Int) -> AuditEntry) -> Int {
        let e = make(entries.count)
        entries.append(e)
        return e.id
    }

    public mutating func setOutcome(moveID: MoveID, _ outcome: AuditEntry.Outcome) {
        for i in entries.indices where entries[i].moveIDs.contains(moveID) && entries[i].outcome == .pending {
            entries[i].outcome = outcome
        }
    }

    public mutating func setOutcome(entry: Int, _ outcome: AuditEntry.Outcome) {
        guard entries.indices.contains(entry) else { return }
        entries[entry].outcome = outcome
    }

    public mutating func setRealized(entry: Int, gain: Double, partial: Bool) {
        guard entries.indices.contains(entry) else { return }
        entries[entry].realizedGainOpMs = gain
        entries[entry].realizedPartial = partial
    }

    /// Entries whose realized gain is still missing.
    public var unsettled: [AuditEntry] { entries.filter { $0.realizedGainOpMs == nil } }
}
