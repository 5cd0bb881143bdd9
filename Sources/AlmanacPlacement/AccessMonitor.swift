import AlmanacKeyspace
/// Configuration of the access monitor: fixed buckets over a sliding window.
public struct AccessMonitorConfig: Sendable, Hashable {
    /// Width of one bucket in seconds.
    public var bucketSeconds: Double
    /// Number of buckets kept per segment (the ring length, including the bucket being filled).
    public var windowBuckets: Int
    public var zoneCount: Int

    public init(bucketSeconds: Double = 900, windowBuckets: Int = 4 * 96, zoneCount: Int) throws {
        guard bucketSeconds > 0, bucketSeconds.isFinite else { throw PlacementError.invalidConfiguration("bucketSeconds must be > 0") }
        guard windowBuckets >= 2 else { throw PlacementError.invalidConfiguration("windowBuckets must be >= 2") }
        guard zoneCount > 0 else { throw PlacementError.invalidConfiguration("zoneCount must be > 0") }
        self.bucketSeconds = bucketSeconds
        self.windowBuckets = windowBuckets
        self.zoneCount = zoneCount
    }

    /// Memory of one segment's ring: `windowBuckets * zoneCount * 2` UInt32 counters plus a 16-byte header.
    /// E.g. 384 buckets (4 days of 15 min) x 6 zones x 2 types x 4 B = 18,432 B + 16 B.
    public var bytesPerSegment: Int { windowBuckets * zoneCount * 2 * MemoryLayout<UInt32>.size + 16 }

    /// Bucket index of a time in seconds.
    public func bucket(at time: Double) -> Int64 { Int64((time / bucketSeconds).rounded(.down)) }
}

/// One segment's bounded ring of per-zone read/write counts.
public struct SegmentAccessRing: Sendable, Hashable {
    /// `windowBuckets * zoneCount * 2` counters; slot = bucket % windowBuckets.
    private var counts: [UInt32]
    /// Newest bucket written (nil before the first record).
    public private(set) var newestBucket: Int64?
    private let window: Int
    private let zones: Int

    init(config: AccessMonitorConfig) {
        window = config.windowBuckets
        zones = config.zoneCount
        counts = Array(repeating: 0, count: config.windowBuckets * config.zoneCount * 2)
    }

    /// Ring slot of a bucket (non-negative for negative buckets too).
    @inline(__always) private func slot(_ bucket: Int64) -> Int {
        let w = Int64(window)
        return Int(((bucket % w) + w) % w)
    }

    @inline(__always) private func offset(slot: Int, zone: ZoneIndex, type: AccessType) -> Int {
        (slot * zones + zone) * 2 + (type == .read ? 0 : 1)
    }

    /// Moves the ring forward to `bucket`, zeroing the buckets skipped over.
    mutating func advance(to bucket: Int64) {
        guard let newest = newestBucket else { newestBucket = bucket; return }
        guard bucket > newest else { return }
        let steps = Int(Swift.min(Int64(window), bucket - newest))
        for k in 1...steps {
            let slot = slot(newest + Int64(k))
            for z in 0..<zones { counts[offset(slot: slot, zone: z, type: .read)] = 0; counts[offset(slot: slot, zone: z, type: .write)] = 0 }
        }
        newestBucket = bucket
    }

    /// Adds `count` accesses in `bucket`. Accesses older than the window are dropped.
    mutating func record(bucket: Int64, zone: ZoneIndex, type: AccessType, count: UInt32) {
        advance(to: bucket)
        guard let newest = newestBucket, bucket > newest - Int64(window) else { return }
        let o = offset(slot: slot(bucket), zone: zone, type: type)
        counts[o] = counts[o].addingReportingOverflow(count).overflow ? UInt32.max : counts[o] &+ count
    }

    /// Count in one bucket (0 if outside the window).
    public func count(bucket: Int64, zone: ZoneIndex, type: AccessType?) -> Double {
        guard let newest = newestBucket, bucket <= newest, bucket > newest - Int64(window) else { return 0 }
        let slot = slot(bucket)
        switch type {
        case .some(let t): return Double(counts[offset(slot: slot, zone: zone, type: t)])
        case .none: return Double(counts[offset(slot: slot, zone: zone, type: .read)]) + Double(counts[offset(slot: slot, zone: zone, type: .write)])
        }
    }
}

/// The access monitor: per segment, reads and writes per zone in fixed buckets over a sliding window.
public struct AccessMonitor: Sendable {
    public let config: AccessMonitorConfig
    public let keying: SegmentKeying
    public private(set) var rings: [SegmentID: SegmentAccessRing] = [:]
    /// Newest bucket seen across all segments.
    public private(set) var newestBucket: Int64?

    public init(config: AccessMonitorConfig, keying: SegmentKeying) {
        self.config = config
        self.keying = keying
    }

    /// `update_access_pattern(key, access_type, zone, time)`: counts one access (or `count`) of `key`
    /// from `zone` at `time` (seconds).
    public mutating func updateAccessPattern(key: InodeID, accessType: AccessType, zone: ZoneIndex, time: Double, count: UInt32 = 1) throws {
        try record(segment: key.segment, accessType: accessType, zone: zone, time: time, count: count)
    }

    /// Counts accesses of a segment directly (the simulator's batched form of `updateAccessPattern`).
    public mutating func record(segment: SegmentID, accessType: AccessType, zone: ZoneIndex, time: Double, count: UInt32) throws {
        guard (0..<config.zoneCount).contains(zone) else { throw PlacementError.unknownZone(zone) }
        guard Int(segment) < keying.segmentCount else { throw PlacementError.invalidConfiguration("segment \(segment) out of range") }
        let b = config.bucket(at: time)
        if newestBucket.map({ b > $0 }) ?? true { newestBucket = b }
        rings[segment, default: SegmentAccessRing(config: config)].record(bucket: b, zone: zone, type: accessType, count: count)
    }

    /// Complete buckets before `bucket` (oldest first, at most `windowBuckets - 1`) of one segment,
    /// summed over the given zones and access types (nil = all).
    public func history(segment: SegmentID, zone: ZoneIndex?, type: AccessType? = nil, before bucket: Int64, length: Int? = nil) -> [Double] {
        let n = Swift.min(length ?? (config.windowBuckets - 1), config.windowBuckets - 1)
        guard n > 0 else { return [] }
        let first = bucket - Int64(n)
        guard let ring = rings[segment] else { return Array(repeating: 0, count: n) }
        return (0..<n).map { k in
            let b = first + Int64(k)
            if let z = zone { return ring.count(bucket: b, zone: z, type: type) }
            return (0..<config.zoneCount).reduce(0) { $0 + ring.count(bucket: b, zone: $1, type: type) }
        }
    }

    /// Number of complete buckets observed so far before `bucket` (capped by the window).
    public func observedBuckets(before bucket: Int64, since firstBucket: Int64) -> Int {
        Int(Swift.max(0, Swift.min(Int64(config.windowBuckets - 1), bucket - firstBucket)))
    }
}
