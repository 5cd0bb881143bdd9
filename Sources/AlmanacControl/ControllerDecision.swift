import AlmanacKeyspace

/// One audited decision (kept in the map store's audit record; `ctl audit`).
public struct ControllerDecision: Sendable, Hashable, Codable {
    public var id: UInt64
    /// Seconds since 1970 (the end of the bucket it was decided on).
    public var time: Double
    public var term: UInt64
    public var policy: String
    public var mode: ControllerMode
    public var action: String
    public var shard: ShardID
    public var fromLeader: NodeID?
    public var toLeader: NodeID?
    public var fromNodes: [NodeID]
    public var toNodes: [NodeID]
    /// Forecast requests over the evaluation window behind the decision (predictive only).
    public var forecastRequests: Double?
    /// Predicted gain (pessimistic side of the forecast) and cost, in op-milliseconds.
    public var predictedGainOpMs: Double?
    public var costOpMs: Double?
    public var confidence: Double?
    /// Realized gain once the window has been observed (the library's estimator).
    public var realizedGainOpMs: Double?
    /// The library audit entry the decision's forecast and gain came from, and the controller
    /// instance (``PlacementController/run``) that numbered it: the key its realized gain is filed under.
    public var auditEntry: Int? = nil
    public var plannerRun: UInt64? = nil
    /// "decided", "shadow", "applied", "failed: ..." as the shell reports it.
    public var outcome: String
    public var reason: String

    public init(id: UInt64, time: Double, term: UInt64, policy: String, mode: ControllerMode, action: String, shard: ShardID,
                fromLeader: NodeID?, toLeader: NodeID?, fromNodes: [NodeID], toNodes: [NodeID], forecastRequests: Double? = nil,
                predictedGainOpMs: Double? = nil, costOpMs: Double? = nil, confidence: Double? = nil, realizedGainOpMs: Double? = nil,
                outcome: String, reason: String) {
        self.id = id
        self.time = time
        self.term = term
        self.policy = policy
        self.mode = mode
        self.action = action
        self.shard = shard
        self.fromLeader = fromLeader
        self.toLeader = toLeader
        self.fromNodes = fromNodes
        self.toNodes = toNodes
        self.forecastRequests = forecastRequests
        self.predictedGainOpMs = predictedGainOpMs
        self.costOpMs = costOpMs
        self.confidence = confidence
        self.realizedGainOpMs = realizedGainOpMs
        self.outcome = outcome
        self.reason = reason
    }
}

extension ControllerDecision {
    /// One line without the time and the reason: what was decided, at what predicted and realized
    /// gain, and how it ended (`ctl audit`, the console).
    public var summary: String {
        var line = "#\(id) term \(term) \(policy)/\(mode.rawValue): \(action) shard \(shard)"
        if let from = fromLeader, let to = toLeader, from != to { line += " leader \(from)->\(to)" }
        if !toNodes.isEmpty, toNodes != fromNodes { line += " replicas \(fromNodes)->\(toNodes)" }
        if let gain = predictedGainOpMs, let cost = costOpMs {
            line += " gain \(Int(gain.rounded())) op-ms cost \(Int(cost.rounded())) op-ms"
            if let confidence { line += " confidence \((confidence * 100).rounded() / 100)" }
        }
        if let realized = realizedGainOpMs { line += " realized \(Int(realized.rounded())) op-ms" }
        return line + " => \(outcome)"
    }
}

/// A decision's realized gain, settled once its evaluation window has been observed (the library's
/// estimator on the measured per-zone requests, minus the cost), keyed as the decision was.
public struct RealizedGain: Sendable, Hashable {
    public var plannerRun: UInt64
    public var auditEntry: Int
    public var gainOpMs: Double
    /// The window was cut short (settled before it ended, at the end of a replay or run).
    public var partial: Bool

    public init(plannerRun: UInt64, auditEntry: Int, gainOpMs: Double, partial: Bool) {
        self.plannerRun = plannerRun
        self.auditEntry = auditEntry
        self.gainOpMs = gainOpMs
        self.partial = partial
    }
}
