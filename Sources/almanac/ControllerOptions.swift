import AlmanacControl
import ArgumentParser
import Foundation

/// The placement controller's flags, on `serve` and `dev` (docs/controller.md). Every node runs
/// the controller's election; the lease holder runs the policy.
struct ControllerOptions: ParsableArguments {
    @Option(name: .customLong("controller-policy"), help: "predictive (default: PME and LSMM with the reactive fallback), reactive or static.")
    var controllerPolicy: String = ControllerPolicyKind.predictive.rawValue

    @Option(name: .customLong("controller-mode"),
            help: "The mode of the cluster's first controller lease: active (default), shadow (decide and audit, never act) or off. Change it later with `ctl controller mode`.")
    var controllerMode: String = ControllerMode.active.rawValue

    @Flag(name: .customLong("no-controller"), help: "This node never runs the placement controller.")
    var noController = false

    @Option(name: .customLong("access-bucket-seconds"), help: "Length of one access-monitor bucket (default 60); the controller decides once per bucket.")
    var accessBucketSeconds: Double = 60

    @Option(name: .customLong("season-buckets"), help: "Buckets in one season (one \"day\") of the load forecasts (default 24).")
    var seasonBuckets: Int = 24

    @Option(name: .customLong("cross-zone-rtt-ms"), help: "Round trip between two zones the planner assumes, in milliseconds (default 2).")
    var crossZoneRttMs: Double = 2

    @Option(name: .customLong("zone-rtt"), help: "Round trips of zone pairs the planner assumes, over --cross-zone-rtt-ms: \"us:eu=80,us:ap=150\" (milliseconds).")
    var zoneRtt: String?

    @Option(name: .customLong("split-threshold"), help: "LSMM: a segment above this many requests per second for three buckets gets a shard of its own (default: no automatic splits or merges).")
    var splitThreshold: Double?

    /// The validated settings; a bad value is a usage error with its reason.
    func settings() throws -> (settings: ControllerSettings, mode: ControllerMode) {
        guard let policy = ControllerPolicyKind(rawValue: controllerPolicy) else {
            throw ValidationError("--controller-policy must be one of \(ControllerPolicyKind.allCases.map(\.rawValue).joined(separator: ", ")) (got \(controllerPolicy))")
        }
        guard let mode = ControllerMode(rawValue: controllerMode) else {
            throw ValidationError("--controller-mode must be one of \(ControllerMode.allCases.map(\.rawValue).joined(separator: ", ")) (got \(controllerMode))")
        }
        guard accessBucketSeconds >= 1, accessBucketSeconds <= 3600, accessBucketSeconds.isFinite else {
            throw ValidationError("--access-bucket-seconds must be in 1...3600 (got \(accessBucketSeconds))")
        }
        guard (2...1000).contains(seasonBuckets) else { throw ValidationError("--season-buckets must be in 2...1000 (got \(seasonBuckets))") }
        guard crossZoneRttMs >= 0, crossZoneRttMs.isFinite else { throw ValidationError("--cross-zone-rtt-ms must be >= 0 (got \(crossZoneRttMs))") }
        if let splitThreshold, !(splitThreshold > 0 && splitThreshold.isFinite) {
            throw ValidationError("--split-threshold must be > 0 (got \(splitThreshold))")
        }
        var pairs: [String: Double] = [:]
        for item in (zoneRtt ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: "=")
            let zones = parts.first?.split(separator: ":") ?? []
            guard parts.count == 2, zones.count == 2, let ms = Double(parts[1]), ms >= 0, ms.isFinite else {
                throw ValidationError("--zone-rtt: \"\(item)\" is not ZONE:ZONE=MILLISECONDS")
            }
            pairs[ControllerSettings.rttKey(String(zones[0]), String(zones[1]))] = ms
        }
        var settings = ControllerSettings()
        settings.zoneRttMs = pairs
        settings.policy = policy
        settings.bucketSeconds = accessBucketSeconds
        settings.seasonBuckets = seasonBuckets
        settings.crossZoneRttMs = crossZoneRttMs
        settings.splitThresholdOpsPerSec = splitThreshold
        return (settings, mode)
    }

    /// The same flags for a `serve` child of `dev`.
    var serveArguments: [String] {
        var arguments = ["--controller-policy", controllerPolicy, "--controller-mode", controllerMode,
                         "--access-bucket-seconds", String(accessBucketSeconds), "--season-buckets", String(seasonBuckets),
                         "--cross-zone-rtt-ms", String(crossZoneRttMs)]
        if noController { arguments.append("--no-controller") }
        if let splitThreshold { arguments += ["--split-threshold", String(splitThreshold)] }
        if let zoneRtt { arguments += ["--zone-rtt", zoneRtt] }
        return arguments
    }
}
