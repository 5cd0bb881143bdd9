import AlmanacPredict
import AlmanacPlacement

/// Deterministic SplitMix64 hashing for seeded, order-independent randomness.
public enum SeededHash {
    @inline(__always) public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1) from the given keys.
    @inline(__always) public static func uniform(_ keys: UInt64...) -> Double {
        var h: UInt64 = 0x1234_5678
        for k in keys { h = mix(h ^ k) }
        return (Double(h >> 11) + 0.5) / 9_007_199_254_740_992.0
    }

    /// Standard normal from the given keys (Box-Muller).
    @inline(__always) public static func normal(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64) -> Double {
        let u1 = uniform(a, b, c, d, 1), u2 = uniform(a, b, c, d, 2)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-segment, per-zone offered load (ops/s) of a scenario at any time. Pure once built.
public struct LoadModel: Sendable {
    enum Source: Sendable {
        case followTheSun(segments: Range<Int>, ops: Double, write: Double, rotation: [[ZoneIndex]], dominant: Double, sibling: Double, period: Double, ramp: Double, offset: Double)
        case uniform(segments: Range<Int>, ops: Double, write: Double)
        case series(segments: Range<Int>, mean: Double, write: Double, series: [[Double]], bucket: Double, shares: [Double], offset: Double)
        case flash(segments: Range<Int>, ops: Double, write: Double, zone: ZoneIndex, start: Double, duration: Double)
    }

    let sources: [Source]
    let zoneCount: Int
    let segmentCount: Int
    /// Start time of each flash crowd (seconds), for reports.
    public let flashStarts: [Double]

    /// Builds the load model. `readFile` returns the text of a file named relative to the scenario.
    public init(scenario sc: Scenario, topology: Topology, seed: UInt64, readFile: (String) throws -> String) throws {
        zoneCount = topology.zoneCount
        segmentCount = sc.segmentCount
        var sources: [Source] = []
        var flashStarts: [Double] = []
        func zone(_ n: String) throws -> ZoneIndex {
            guard let z = topology.zone(named: n) else { throw PlacementError.invalidConfiguration("unknown zone '\(n)' in load") }
            return z
        }
        for (i, l) in sc.loads.enumerated() {
            guard l.firstSegment >= 0, l.segmentCount > 0, l.firstSegment + l.segmentCount <= sc.segmentCount else {
                throw PlacementError.invalidConfiguration("load \(i): segments out of range")
            }
            guard l.opsPerSec >= 0 else { throw PlacementError.invalidConfiguration("load \(i): opsPerSec must be >= 0") }
            let segs = l.firstSegment..<(l.firstSegment + l.segmentCount)
            let w = Swift.min(1, Swift.max(0, l.writeFraction ?? 0.2))
            switch l.kind {
            case "followTheSun":
                let rot = try (l.rotation ?? []).map { try $0.map(zone) }
                guard !rot.isEmpty, rot.allSatisfy({ !$0.isEmpty }) else { throw PlacementError.invalidConfiguration("load \(i): rotation needs zone groups") }
                sources.append(.followTheSun(segments: segs, ops: l.opsPerSec, write: w, rotation: rot, dominant: l.dominantShare ?? 0.9,
                                             sibling: l.siblingShare ?? 0, period: (l.periodHours ?? 24) * 3600,
                                             ramp: (l.rampMinutes ?? 10) * 60, offset: (l.phaseOffsetHours ?? 0) * 3600))
            case "uniform":
                sources.append(.uniform(segments: segs, ops: l.opsPerSec, write: w))
            case "series":
                guard let files = l.files, !files.isEmpty else { throw PlacementError.invalidConfiguration("load \(i): series needs files") }
                let bucket = l.seriesBucketSeconds ?? 3600
                let series = try files.map { f -> [Double] in
                    let pts = try SeriesFormats.parseTimestampValueCSV(try readFile(f))
                    let s = SeriesFormats.bucketize(pts, width: Int64(bucket))
                    let mean = s.reduce(0, +) / Double(Swift.max(1, s.count))
                    guard mean > 0 else { throw PlacementError.invalidConfiguration("load \(i): series \(f) is empty") }
                    return s.map { $0 / mean }
                }
                var shares = Array(repeating: 1.0 / Double(zoneCount), count: zoneCount)
                if let zs = l.zoneShares {
                    shares = Array(repeating: 0, count: zoneCount)
                    for (n, v) in zs { shares[try zone(n)] = Swift.max(0, v) }
                    let tot = shares.reduce(0, +)
                    guard tot > 0 else { throw PlacementError.invalidConfiguration("load \(i): zoneShares sum to 0") }
                    shares = shares.map { $0 / tot }
                }
                sources.append(.series(segments: segs, mean: l.opsPerSec, write: w, series: series, bucket: bucket, shares: shares,
                                       offset: (l.phaseOffsetHours ?? 0) * 3600))
            case "flashCrowd":
                let z = try zone(l.zone ?? "")
                let lo = (l.startHourMin ?? 0) * 3600, hi = Swift.max(lo, (l.startHourMax ?? l.startHourMin ?? 0) * 3600)
                let start = lo + (hi - lo) * SeededHash.uniform(seed, 77, UInt64(i))
                flashStarts.append(start)
                sources.append(.flash(segments: segs, ops: l.opsPerSec, write: w, zone: z, start: start, duration: (l.durationMinutes ?? 60) * 60))
            default:
                throw PlacementError.invalidConfiguration("load \(i): unknown kind '\(l.kind)'")
            }
        }
        self.sources = sources
        self.flashStarts = flashStarts
    }

    /// Offered rates at `time`: `reads[segment][zone]`, `writes[segment][zone]` in ops/s.
    public func rates(at time: Double) -> (reads: [[Double]], writes: [[Double]]) {
        var reads = Array(repeating: Array(repeating: 0.0, count: zoneCount), count: segmentCount)
        var writes = reads
        func add(_ segs: Range<Int>, _ z: ZoneIndex, _ r: Double, _ w: Double) {
            for s in segs { reads[s][z] += r * (1 - w); writes[s][z] += r * w }
        }
        for src in sources {
            switch src {
            case let .followTheSun(segs, ops, w, rot, dom, sib, period, ramp, offset):
                let slot = period / Double(rot.count)
                let phase = ((time + offset).truncatingRemainder(dividingBy: period) + period).truncatingRemainder(dividingBy: period)
                let k = Int(phase / slot) % rot.count
                let into = phase - Double(k) * slot
                // Cross-fade from the previous group over `ramp` seconds centred on the slot boundary.
                var weights: [(Int, Double)] = [(k, 1)]
                if ramp > 0 {
                    if into < ramp / 2 { let a = 0.5 + into / ramp; weights = [(k, a), ((k + rot.count - 1) % rot.count, 1 - a)] }
                    else if slot - into < ramp / 2 { let a = 0.5 + (slot - into) / ramp; weights = [(k, a), ((k + 1) % rot.count, 1 - a)] }
                }
                for (g, gw) in weights {
                    let group = rot[g]
                    var share = Array(repeating: 0.0, count: zoneCount)
                    share[group[0]] += dom
                    let others = group.dropFirst()
                    for z in others { share[z] += sib / Double(others.count) }
                    let rest = Swift.max(0, 1 - dom - (others.isEmpty ? 0 : sib))
                    let outside = (0..<zoneCount).filter { !group.contains($0) }
                    for z in outside { share[z] += rest / Double(outside.count) }
                    for z in 0..<zoneCount where share[z] > 0 { add(segs, z, ops * gw * share[z], w) }
                }
            case let .uniform(segs, ops, w):
                for z in 0..<zoneCount { add(segs, z, ops / Double(zoneCount), w) }
            case let .series(segs, mean, w, series, bucket, shares, offset):
                for s in segs {
                    let ser = series[(s - segs.lowerBound) % series.count]
                    let x = (time + offset) / bucket
                    let i = Int(x.rounded(.down)) % ser.count
                    let frac = x - x.rounded(.down)
                    let v = ser[i] * (1 - frac) + ser[(i + 1) % ser.count] * frac
                    for z in 0..<zoneCount where shares[z] > 0 {
                        reads[s][z] += mean * v * shares[z] * (1 - w)
                        writes[s][z] += mean * v * shares[z] * w
                    }
                }
            case let .flash(segs, ops, w, z, start, duration):
                if time >= start && time < start + duration { add(segs, z, ops, w) }
            }
        }
        return (reads, writes)
    }
}
