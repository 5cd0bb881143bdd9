import Foundation
import AlmanacPlacement

/// A placement-simulator scenario as stored in a JSON file under `scenarios/`.
public struct Scenario: Sendable, Codable {
    public struct Node: Sendable, Codable { public var name: String; public var zone: String; public var capacityOpsPerSec: Double }

    /// One additive load source.
    public struct Load: Sendable, Codable {
        /// "followTheSun", "uniform", "series" or "flashCrowd".
        public var kind: String
        public var firstSegment: Int
        public var segmentCount: Int
        /// Per-segment rate (ops/s). For "series", the mean rate (the series is scaled to this mean).
        public var opsPerSec: Double
        public var writeFraction: Double?
        /// followTheSun: groups of zones dominant in turn over `periodHours`; the first zone of a group takes
        /// `dominantShare`, the rest of the group `siblingShare` split evenly, the other zones the remainder.
        public var rotation: [[String]]?
        public var dominantShare: Double?
        public var siblingShare: Double?
        public var periodHours: Double?
        public var rampMinutes: Double?
        /// Hours added to the time for this load (segment groups out of phase).
        public var phaseOffsetHours: Double?
        /// series: CSV files (`timestamp,value`), relative to the scenario file; segment i uses file i mod count.
        public var files: [String]?
        public var seriesBucketSeconds: Double?
        /// series: share of load per zone (defaults to uniform).
        public var zoneShares: [String: Double]?
        /// flashCrowd: zone the spike comes from, multiplier of `opsPerSec`, window for the seeded start.
        public var zone: String?
        public var startHourMin: Double?
        public var startHourMax: Double?
        public var durationMinutes: Double?
    }

    public var name: String
    public var description: String?
    public var seed: UInt64?
    public var durationHours: Double
    public var warmupHours: Double
    public var stepSeconds: Double
    public var zones: [String]
    public var rttMs: [[Double]]
    public var nodes: [Node]
    public var replicationFactor: Int
    public var segmentCount: Int
    public var segmentsPerShard: Int
    public var bytesPerSegment: Double
    public var initialVoters: [String]
    public var initialLeader: String
    public var bandwidthBytesPerSec: Double
    public var catchUpSeconds: Double
    public var moveFailureRate: Double
    public var serviceTimeMs: Double
    public var followerApplyCost: Double
    public var overloadUtilization: Double
    public var reversalWindowSeconds: Double
    public var splitThresholdOpsPerSec: Double?
    public var bucketSeconds: Double?
    public var windowBuckets: Int?
    public var seasonBuckets: Int?
    public var leadMarginSeconds: Double?
    public var evaluationWindowHours: Double?
    public var maxMovesInFlight: Int?
    public var forecaster: String?
    /// Seasons LSMM's merge guard looks back (`PredictiveConfig.mergeGuardSeasons`; default 2).
    public var mergeGuardSeasons: Int?
    public var loads: [Load]

    /// Decodes a scenario from JSON.
    public static func decode(_ data: Data) throws -> Scenario {
        do { return try JSONDecoder().decode(Scenario.self, from: data) } catch let e as DecodingError {
            throw PlacementError.invalidConfiguration("scenario JSON: \(Self.describe(e))")
        }
    }

    static func describe(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound(let k, let c): return "missing key '\(k.stringValue)' at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            return "\(c.debugDescription) at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        @unknown default: return "\(e)"
        }
    }
}
