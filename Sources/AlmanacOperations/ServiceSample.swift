import AlmanacWire

/// What a node's metadata service contributes to `/metrics`, sampled at each scrape: the
/// prefetching counters of the shards it leads (cumulative since the node started) and its access
/// monitor's heat per segment over the monitor's window (the status message's types; only each
/// load's segment, shard, reads and writes are read).
public struct ServiceSample: Sendable {
    public var prefetch: [Almanac_Api_V1_PrefetchShardStatus]
    public var segments: [Almanac_Api_V1_SegmentLoad]

    public init(prefetch: [Almanac_Api_V1_PrefetchShardStatus] = [], segments: [Almanac_Api_V1_SegmentLoad] = []) {
        self.prefetch = prefetch
        self.segments = segments
    }
}
