import AlmanacNode
import AlmanacServer
import ArgumentParser
import Foundation

/// The four parameters of predictive journaling as flags of `serve` and `dev` (docs/prediction.md).
/// A flag overrides the node config file's value; absent from both: the default.
struct PrefetchOptions: ParsableArguments {
    /// Defaults chosen from the measurements in docs/prediction.md ("Measured"): markov confirms
    /// the most with the least waste, 0.9 keeps waste near 5%; prefetching is off by default
    /// because it lowers latency in neither durability mode: under majority a confirmation still
    /// waits for a commit round, and under async nothing waits for the journal (docs/prediction.md,
    /// "Async durability"), so it costs journal bytes and CPU for nothing.
    static let defaultModel = "markov"
    static let defaultThreshold = 0.9
    static let defaultQueueSize = 0

    @Option(name: .customLong("prediction-model-type"), help: "prediction_model_type: markov (default), rnn or none.")
    var predictionModelType: String?

    @Option(name: .customLong("confidence-threshold"), help: "confidence_threshold in (0, 1] (default 0.9).")
    var confidenceThreshold: Double?

    @Option(name: .customLong("prefetch-queue-size"), help: "prefetch_queue_size, >= 0; 0 (the default) turns prefetching off; 256 was measured.")
    var prefetchQueueSize: Int?

    @Option(name: .customLong("zone-count"), help: "zone_count: the cluster's number of zones, >= 3 (default: the cluster's).")
    var zoneCount: Int?

    @Option(name: .customLong("prefetch-yield-backlog"),
            help: "Prefetching yields while the node's leaders hold more request entries uncommitted (plus reads waiting) than this (default 2; negative, written --prefetch-yield-backlog=-1: never yield).")
    var prefetchYieldBacklog: Int?

    /// The file's values with the flags applied.
    func applied(to file: NodeConfigFile) -> NodeConfigFile {
        var file = file
        if let predictionModelType { file.predictionModelType = predictionModelType }
        if let confidenceThreshold { file.confidenceThreshold = confidenceThreshold }
        if let prefetchQueueSize { file.prefetchQueueSize = prefetchQueueSize }
        if let zoneCount { file.zoneCount = zoneCount }
        if let prefetchYieldBacklog { file.prefetchYieldBacklog = prefetchYieldBacklog }
        return file
    }

    /// Validated settings for `file`'s cluster. Without an explicit zone_count, a cluster of fewer
    /// than 3 zones (the single-machine opt-in) runs with prefetching off, and says so.
    static func settings(for file: NodeConfigFile) throws(PrefetchConfigurationError) -> PrefetchSettings {
        let clusterZones = Set(file.members.map(\.zone)).count
        if file.zoneCount == nil, clusterZones < 3 {
            if (file.prefetchQueueSize ?? defaultQueueSize) > 0 && file.predictionModelType != "none" {
                FileHandle.standardError.write(Data("warning: predictive journaling is off: the cluster has \(clusterZones) zone(s), it needs 3\n".utf8))
            }
            return .off(zoneCount: clusterZones)
        }
        var settings = try PrefetchSettings(
            predictionModelType: file.predictionModelType ?? defaultModel,
            confidenceThreshold: file.confidenceThreshold ?? defaultThreshold,
            prefetchQueueSize: file.prefetchQueueSize ?? defaultQueueSize,
            zoneCount: file.zoneCount ?? clusterZones, clusterZones: clusterZones)
        if let yield = file.prefetchYieldBacklog { settings.yieldAboveRequestBacklog = yield }
        return settings
    }

    /// The flags again, for a child `serve` (used by `dev`).
    var arguments: [String] {
        var out: [String] = []
        if let predictionModelType { out += ["--prediction-model-type", predictionModelType] }
        if let confidenceThreshold { out += ["--confidence-threshold", "\(confidenceThreshold)"] }
        if let prefetchQueueSize { out += ["--prefetch-queue-size", "\(prefetchQueueSize)"] }
        if let zoneCount { out += ["--zone-count", "\(zoneCount)"] }
        // One word: a negative value would read as an option.
        if let prefetchYieldBacklog { out += ["--prefetch-yield-backlog=\(prefetchYieldBacklog)"] }
        return out
    }
}
