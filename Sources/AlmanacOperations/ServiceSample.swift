import AlmanacKeyspace
import AlmanacWire

/// What a node's metadata service contributes to `/metrics`, sampled at each scrape: the
/// prefetching counters of the shards it leads (cumulative since the node started) and its access
/// monitor's heat per segment over the monitor's window.
public struct ServiceSample: Sendable {
    public var prefetch: [Almanac_Api_V1_PrefetchShardStatus]
    public var segments: [SegmentHeat]

    public init(prefetch: [Almanac_Api_V1_PrefetchShardStatus] = [], segments: [SegmentHeat] = []) {
        self.prefetch = prefetch
        self.segments = segments
    }
}

/// One segment's requests over the access monitor's window, and the shard that owns it.
public struct SegmentHeat: Sendable, Equatable {
    public var segment: SegmentID
    public var shard: ShardID
    public var reads: UInt64
    public var writes: UInt64

    public init(segment: SegmentID, shard: ShardID, reads: UInt64, writes: UInt64) {
        self.segment = segment
        self.shard = shard
        self.reads = reads
        self.writes = writes
    }
}
