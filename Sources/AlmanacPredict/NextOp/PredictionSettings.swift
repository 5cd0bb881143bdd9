/// The configuration keys of predictive journaling that this library interprets.
public struct PredictionSettings: Sendable, Hashable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unknownModelType(String)
        case thresholdOutOfRange(Double)
        public var description: String {
            switch self {
            case let .unknownModelType(s):
                return "prediction_model_type '\(s)' is not one of \(PredictionModelType.allCases.map(\.rawValue).joined(separator: ", "))"
            case let .thresholdOutOfRange(t): return "confidence_threshold \(t) is not in [0, 1]"
            }
        }
    }

    /// `prediction_model_type`.
    public var modelType: PredictionModelType
    /// `confidence_threshold`: predictions at or above it become potential journal entries.
    public var confidenceThreshold: Double
    public var bounds: PredictorBounds

    /// Defaults: the model that measured best (markov) and 0.9 (about 95%+ precision on the shared traces).
    public init(modelType: PredictionModelType = .markov, confidenceThreshold: Double = 0.9, bounds: PredictorBounds = .init()) throws {
        guard (0...1).contains(confidenceThreshold) else { throw Failure.thresholdOutOfRange(confidenceThreshold) }
        self.modelType = modelType
        self.confidenceThreshold = confidenceThreshold
        self.bounds = bounds
    }

    /// Parses the raw configuration values.
    public init(predictionModelType: String, confidenceThreshold: Double, bounds: PredictorBounds = .init()) throws {
        guard let t = PredictionModelType(rawValue: predictionModelType) else { throw Failure.unknownModelType(predictionModelType) }
        try self.init(modelType: t, confidenceThreshold: confidenceThreshold, bounds: bounds)
    }

    public func makePredictor() -> any NextOpPredictor { modelType.makePredictor(bounds: bounds) }
}
