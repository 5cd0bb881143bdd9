import AlmanacNode
import AlmanacMetadata
import struct AlmanacPlacement.AccessMonitor
import struct AlmanacPlacement.AccessMonitorConfig
import enum AlmanacPlacement.AccessType
import AlmanacWire
import Foundation
import NIOConcurrencyHelpers

/// `update_access_pattern(key, access_type)` on a running node: every request the node serves is
/// counted for the segment of the inode it is routed by, as a read or a write, for the zone the
/// client says it runs in (`Request.client_zone`; when it says nothing or names no zone of the
/// cluster, the receiving node's zone stands for it), in
/// ``AlmanacPlacement``'s ``AccessMonitor`` (fixed buckets over a sliding window). Cheap on the
/// request path: one uncontended lock and one ring update.
public final class SegmentAccessMonitor: Sendable {
    private let monitor: NIOLockedValueBox<AccessMonitor>
    private let zone: Int
    /// The cluster's zone names, sorted (a zone's index in the monitor is its place here).
    public let zoneNames: [String]
    public let windowSeconds: Double
    private let bucketSeconds: Double

    /// `zoneNames` are the cluster's zones, `zone` this node's.
    public init(zoneNames: [String], zone: String, bucketSeconds: Double = 60, windowBuckets: Int = 60, segmentCount: Int) throws {
        let names = Set(zoneNames).union([zone]).sorted()
        let config = try AccessMonitorConfig(bucketSeconds: bucketSeconds, windowBuckets: windowBuckets, zoneCount: names.count)
        let keying = try SegmentKeying(segmentCount: segmentCount)
        monitor = NIOLockedValueBox(AccessMonitor(config: config, keying: keying))
        self.zoneNames = names
        self.zone = names.firstIndex(of: zone) ?? 0
        self.bucketSeconds = bucketSeconds
        windowSeconds = bucketSeconds * Double(windowBuckets)
    }

    /// The monitor's index of the zone a client names (nil or unknown: this node's).
    func zoneIndex(_ clientZone: String?) -> Int {
        guard let clientZone, !clientZone.isEmpty else { return zone }
        return zoneNames.firstIndex(of: clientZone) ?? zone
    }

    /// Counts one routed request (session commands and status requests name no segment), for the
    /// zone the client named.
    public func record(_ routed: RoutedRequest, clientZone: String? = nil, now: Double = Date().timeIntervalSince1970) {
        let segment: SegmentID
        let type: AccessType
        switch routed {
        case .write(_, let operation, _, _), .createOrOpenExisting(_, let operation, _, _):
            guard let id = operation.routingInode else { return }
            segment = id.segment
            type = .write
        case .read(_, _, let query):
            guard let id = query.routingInode else { return }
            segment = id.segment
            type = .read
        case .openSession, .clusterStatus, .shardMap, .shardCommand, .systemStore, .replicaAdmin, .placement:
            return
        }
        let zone = zoneIndex(clientZone)
        monitor.withLockedValue { try? $0.record(segment: segment, accessType: type, zone: zone, time: now, count: 1) }
    }

    /// Reads and writes per segment over the window (all zones), segments with no access left out.
    public func loads(now: Double = Date().timeIntervalSince1970) -> [(segment: SegmentID, reads: UInt64, writes: UInt64)] {
        monitor.withLockedValue { monitor in
            let current = monitor.config.bucket(at: now)
            let window = monitor.config.windowBuckets
            return monitor.rings.keys.sorted().compactMap { segment in
                guard let ring = monitor.rings[segment] else { return nil }
                var reads = 0.0
                var writes = 0.0
                for bucket in (current - Int64(window) + 1)...current {
                    for zone in 0..<monitor.config.zoneCount {
                        reads += ring.count(bucket: bucket, zone: zone, type: .read)
                        writes += ring.count(bucket: bucket, zone: zone, type: .write)
                    }
                }
                guard reads + writes > 0 else { return nil }
                return (segment, UInt64(reads), UInt64(writes))
            }
        }
    }

    /// Length of one bucket of the window.
    public var bucketLength: Double { bucketSeconds }

    /// Requests per complete bucket of the window (oldest first; the bucket in progress left out)
    /// for every segment with any access in the window.
    public func bucketSeries(now: Double = Date().timeIntervalSince1970) -> [SegmentID: [UInt64]] {
        monitor.withLockedValue { monitor in
            let current = monitor.config.bucket(at: now)
            let window = monitor.config.windowBuckets
            var series: [SegmentID: [UInt64]] = [:]
            for (segment, ring) in monitor.rings {
                let counts = ((current - Int64(window) + 1)..<current).map { bucket in
                    (0..<monitor.config.zoneCount).reduce(UInt64(0)) { $0 + UInt64(ring.count(bucket: bucket, zone: $1, type: nil)) }
                }
                if counts.contains(where: { $0 > 0 }) { series[segment] = counts }
            }
            return series
        }
    }

    /// Requests per complete bucket of the window (oldest first) by zone name, for every segment with
    /// any access in the window; zones without a request in the window left out.
    public func zoneBucketSeries(now: Double = Date().timeIntervalSince1970) -> [SegmentID: [String: [UInt64]]] {
        let names = zoneNames
        return monitor.withLockedValue { monitor in
            let current = monitor.config.bucket(at: now)
            let window = monitor.config.windowBuckets
            var series: [SegmentID: [String: [UInt64]]] = [:]
            for (segment, ring) in monitor.rings {
                for zone in 0..<min(names.count, monitor.config.zoneCount) {
                    let counts = ((current - Int64(window) + 1)..<current).map { UInt64(ring.count(bucket: $0, zone: zone, type: nil)) }
                    if counts.contains(where: { $0 > 0 }) { series[segment, default: [:]][names[zone]] = counts }
                }
            }
            return series
        }
    }

    /// The index of the newest complete bucket at `now` (the last element of the series).
    public func lastCompleteBucket(now: Double = Date().timeIntervalSince1970) -> Int64 {
        Int64((now / bucketSeconds).rounded(.down)) - 1
    }

    /// The loads as the status message carries them, with each segment's shard in `map`, and the
    /// index of the series' last bucket.
    public func wire(map: ShardMap) -> (loads: [Almanac_Api_V1_SegmentLoad], lastBucket: Int64) {
        let now = Date().timeIntervalSince1970
        let series = bucketSeries(now: now)
        let byZone = zoneBucketSeries(now: now)
        let loads = loads(now: now).map { load in
            var wire = Almanac_Api_V1_SegmentLoad()
            wire.segment = UInt32(load.segment)
            wire.shard = UInt32(map.shard(ofSegment: load.segment) ?? 0)
            wire.reads = load.reads
            wire.writes = load.writes
            wire.buckets = series[load.segment] ?? []
            wire.zoneLoads = (byZone[load.segment] ?? [:]).sorted { $0.key < $1.key }.map { zone, buckets in
                var zoneLoad = Almanac_Api_V1_ZoneLoad()
                zoneLoad.zone = zone
                zoneLoad.buckets = buckets
                return zoneLoad
            }
            return wire
        }
        return (loads, monitor.withLockedValue { $0.config.bucket(at: now) } - 1)
    }
}

extension MetadataOperation {
    /// The inode a request carrying this operation is routed by (nil for session commands).
    public var routingInode: InodeID? {
        switch self {
        case .mkdir(let parent, _, _, _, _), .create(let parent, _, _, _, _), .rename(let parent, _, _, _),
             .unlink(let parent, _), .rmdir(let parent, _), .open(let parent, _, _, _, _, _), .link(_, let parent, _),
             .symlink(let parent, _, _, _, _):
            return parent
        case .setattr(let id, _):
            return id
        default:
            return nil
        }
    }
}

extension MetadataQuery {
    /// The inode a request carrying this query is routed by (nil: routed by shard, not by inode).
    public var routingInode: InodeID? {
        switch self {
        case .getattr(let id), .readdir(let id, _, _, _), .readlink(let id): return id
        case .lookup(let parent, _): return parent
        case .exportSegments: return nil
        }
    }
}
