/// One predicted next request.
public struct OpPrediction: Sendable, Hashable {
    public var file: UInt32
    public var op: MetadataOp
    /// Estimated probability that this is the stream's next request (calibrated online where the model can).
    public var confidence: Double
    /// Expected time until it arrives, in microseconds (0 if unknown).
    public var expectedArrivalMicros: Double

    public init(file: UInt32, op: MetadataOp, confidence: Double, expectedArrivalMicros: Double) {
        self.file = file
        self.op = op
        self.confidence = confidence
        self.expectedArrivalMicros = expectedArrivalMicros
    }

    public var key: FileOp { FileOp(file: file, op: op) }
}

/// A predicted next operation on a given file.
public struct OpOnFilePrediction: Sendable, Hashable {
    public var op: MetadataOp
    public var confidence: Double
}

/// A next-operation model. Value type: `observe` learns one event; the queries rank what comes next.
public protocol NextOpPredictor: Sendable {
    var name: String { get }
    /// Learns from one event (events arrive in time order, streams interleaved).
    mutating func observe(_ event: OpEvent)
    /// Ranked guesses (best first, at most `limit`) for the next request of `stream`.
    func predictNext(stream: UInt32, limit: Int) -> [OpPrediction]
    /// Ranked guesses for the next operation that `stream` will issue on `file`.
    func predictNextOp(stream: UInt32, file: UInt32, limit: Int) -> [OpOnFilePrediction]
    /// Approximate bytes of model state.
    var approximateBytes: Int { get }
}

extension NextOpPredictor {
    /// The predictions at or above `threshold`: the ones that become potential journal entries.
    public func journalCandidates(stream: UInt32, threshold: Double, limit: Int = 3) -> [OpPrediction] {
        predictNext(stream: stream, limit: limit).filter { $0.confidence >= threshold }
    }
}

/// `prediction_model_type`: which next-operation model to run.
public enum PredictionModelType: String, Sendable, CaseIterable {
    case markov
    case rnn
    case lastSuccessor = "last-successor"
    case frequency
    case none

    /// A fresh model of this type with the given bounds.
    public func makePredictor(bounds: PredictorBounds = .init()) -> any NextOpPredictor {
        switch self {
        case .markov: return MarkovPredictor(bounds: bounds)
        case .rnn: return GRUPredictor(bounds: bounds)
        case .lastSuccessor: return LastSuccessorPredictor(bounds: bounds)
        case .frequency: return FrequencyPredictor(bounds: bounds)
        case .none: return NoPredictor()
        }
    }
}

/// Memory bounds shared by the models.
public struct PredictorBounds: Sendable, Hashable {
    /// Maximum tracked (file, op) keys (and order-2 contexts); least recently used are evicted beyond this.
    public var maxTrackedKeys: Int
    /// Successors kept per key (top-k with decayed counts).
    public var successorsPerKey: Int
    /// Maximum tracked streams.
    public var maxStreams: Int
    /// Files per stream whose last operation is remembered (for next-op-on-same-file).
    public var filesPerStream: Int

    public init(maxTrackedKeys: Int = 65_536, successorsPerKey: Int = 4, maxStreams: Int = 1024, filesPerStream: Int = 256) {
        self.maxTrackedKeys = Swift.max(16, maxTrackedKeys)
        self.successorsPerKey = Swift.max(1, successorsPerKey)
        self.maxStreams = Swift.max(1, maxStreams)
        self.filesPerStream = Swift.max(1, filesPerStream)
    }
}

/// The "no prediction" baseline.
public struct NoPredictor: NextOpPredictor {
    public init() {}
    public var name: String { "none" }
    public mutating func observe(_ event: OpEvent) {}
    public func predictNext(stream: UInt32, limit: Int) -> [OpPrediction] { [] }
    public func predictNextOp(stream: UInt32, file: UInt32, limit: Int) -> [OpOnFilePrediction] { [] }
    public var approximateBytes: Int { 0 }
}
