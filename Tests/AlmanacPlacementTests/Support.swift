import Foundation
@testable import AlmanacPlacement
import AlmanacPlacementSimulation

/// Test fixtures: a 6-zone topology in 3 regions and helpers.
enum Fixture {
    static let zones = ["us-a", "us-b", "eu-a", "eu-b", "ap-a", "ap-b"]
    static func rtt() -> [[Double]] {
        let region = [0, 0, 1, 1, 2, 2]
        let inter: [[Double]] = [[0, 80, 150], [80, 0, 200], [150, 200, 0]]
        var out: [[Double]] = []
        for a in 0..<6 {
            var row: [Double] = []
            for b in 0..<6 {
                if a == b { row.append(0.5) } else if region[a] == region[b] { row.append(2) } else { row.append(inter[region[a]][region[b]]) }
            }
            out.append(row)
        }
        return out
    }
    static func topology(nodesPerZone: Int = 1, capacity: Double = 20000) throws -> Topology {
        var nodes: [NodeSpec] = []
        for z in 0..<6 { for i in 0..<nodesPerZone { nodes.append(NodeSpec(name: "\(zones[z])-\(i)", zone: z, capacityOpsPerSec: capacity)) } }
        return try Topology(zoneNames: zones, rttMs: rtt(), nodes: nodes)
    }

    /// Package root (walks up from this file to the directory holding Package.swift).
    static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path), url.path != "/" {
            url = url.deletingLastPathComponent()
        }
        return url
    }

    static func scenario(_ name: String) throws -> (Scenario, (String) throws -> String) {
        let dir = packageRoot.appendingPathComponent("scenarios")
        let data = try Data(contentsOf: dir.appendingPathComponent(name))
        let sc = try Scenario.decode(data)
        return (sc, { rel in try String(contentsOf: dir.appendingPathComponent(rel), encoding: .utf8) })
    }

    /// A forecast with constant per-zone rates (value, with a relative interval half-width).
    static func forecast(_ rates: [[Double]], width: Double = 0.05, bucket: Double = 900, start: Double = 0) -> AccessForecast {
        AccessForecast(bucketSeconds: bucket, startTime: start, value: rates,
                       lower: rates.map { $0.map { $0 * (1 - width) } }, upper: rates.map { $0.map { $0 * (1 + width) } }, writeFraction: 0.2)
    }

    /// Seeded generator for property tests.
    struct Rng: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 { state = SeededHash.mix(state); return state }
    }
}
