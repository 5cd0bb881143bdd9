import AlmanacPredict

/// The four parameters of predictive journaling (`prediction_model_type`, `confidence_threshold`,
/// `prefetch_queue_size`, `zone_count`), validated; see docs/prediction.md.
public struct PrefetchSettings: Sendable, Hashable {
    /// The models a server runs (`predict-eval` also knows the baselines; the server does not).
    public static let serverModels: [PredictionModelType] = [.markov, .rnn, .none]

    public var modelType: PredictionModelType
    /// Predictions at or above it become potential entries; in (0, 1].
    public var confidenceThreshold: Double
    /// Bound of the prefetch queue; 0 turns prefetching off.
    public var queueSize: Int
    /// Zones the journal is replicated across (must equal the cluster's, at least 3).
    public var zoneCount: Int

    /// Events kept in the global history ring and per session.
    public var historyCapacity = 2048
    public var sessionHistoryCapacity = 32
    /// Failed issue proposals are queued again at most this many times.
    public var maxRetries = 3
    /// Issue proposals in flight per shard.
    public var maxInFlight = 16
    /// Prefetching yields to real traffic: while the groups this node leads hold more than this
    /// many request entries uncommitted plus reads waiting (``RequestBacklogGauge``, peak over the
    /// last one or two ticks), new predictions are not queued and nothing is issued. Negative:
    /// never yield. 2 lets a client or two with one request at a time prefetch and stops it beside
    /// more traffic (measured: docs/prediction.md, "Yielding to real traffic").
    public var yieldAboveRequestBacklog = 2
    /// How long after its expected arrival a potential entry may still be confirmed (µs). The
    /// models' expected gaps are EWMAs, so arrivals scatter around them.
    public var arrivalGraceMicros: Int64 = 500_000
    /// The expiry the state machine enforces on its own (µs after issue): a backstop for entries
    /// whose leader died before expiring them.
    public var journalExpiryMicros: Int64 = 5_000_000

    /// Prefetching is off: queue size 0 or model `none`.
    public static func off(zoneCount: Int) -> PrefetchSettings {
        PrefetchSettings(modelType: .none, confidenceThreshold: 0.9, queueSize: 0, zoneCount: zoneCount)
    }

    init(modelType: PredictionModelType, confidenceThreshold: Double, queueSize: Int, zoneCount: Int) {
        self.modelType = modelType
        self.confidenceThreshold = confidenceThreshold
        self.queueSize = queueSize
        self.zoneCount = zoneCount
    }

    /// Validates the raw values against the cluster's zone count.
    public init(predictionModelType: String, confidenceThreshold: Double, prefetchQueueSize: Int, zoneCount: Int,
                clusterZones: Int) throws(PrefetchConfigurationError) {
        guard let model = PredictionModelType(rawValue: predictionModelType), Self.serverModels.contains(model) else {
            throw .unknownModel(predictionModelType)
        }
        guard confidenceThreshold.isFinite, confidenceThreshold > 0, confidenceThreshold <= 1 else {
            throw .thresholdOutOfRange(confidenceThreshold)
        }
        guard prefetchQueueSize >= 0 else { throw .negativeQueueSize(prefetchQueueSize) }
        guard prefetchQueueSize <= 1 << 20 else { throw .queueTooLarge(prefetchQueueSize) }
        guard zoneCount >= 3 else { throw .tooFewZones(zoneCount) }
        guard zoneCount == clusterZones else { throw .zoneCountMismatch(configured: zoneCount, cluster: clusterZones) }
        self.init(modelType: model, confidenceThreshold: confidenceThreshold, queueSize: prefetchQueueSize, zoneCount: zoneCount)
    }

    /// Whether the prefetching path runs at all.
    public var enabled: Bool { queueSize > 0 && modelType != .none }

    /// Whether speculative work waits, given the node's request backlog.
    public func yields(toRequestBacklog backlog: Int) -> Bool {
        yieldAboveRequestBacklog >= 0 && backlog > yieldAboveRequestBacklog
    }
}

/// A predictive-journaling parameter out of range.
public enum PrefetchConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownModel(String)
    case thresholdOutOfRange(Double)
    case negativeQueueSize(Int)
    case queueTooLarge(Int)
    case tooFewZones(Int)
    case zoneCountMismatch(configured: Int, cluster: Int)

    public var description: String {
        switch self {
        case .unknownModel(let name):
            "prediction_model_type '\(name)' is not one of \(PrefetchSettings.serverModels.map(\.rawValue).joined(separator: ", "))"
        case .thresholdOutOfRange(let value): "confidence_threshold \(value) is not in (0, 1]"
        case .negativeQueueSize(let value): "prefetch_queue_size \(value) is negative (0 turns prefetching off)"
        case .queueTooLarge(let value): "prefetch_queue_size \(value) is over the limit of \(1 << 20)"
        case .tooFewZones(let value): "zone_count \(value) is below 3 (predictive journaling needs a majority across at least 3 zones)"
        case let .zoneCountMismatch(configured, cluster):
            "zone_count \(configured) does not match the cluster, whose members are in \(cluster) zones"
        }
    }
}
