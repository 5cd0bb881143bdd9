/// The latency model shared by the planner and the simulator.
///
/// An operation from zone c on a shard led from zone l with voters V costs
/// `rtt(c, l) + min_{v in V, v != l} rtt(l, v)` (client round trip plus the commit round trip to the
/// nearest follower) plus the leader node's service time with queueing.
public struct LatencyModel: Sendable, Hashable {
    public var serviceTimeMs: Double
    /// Utilization at which the M/M/1 term is capped; beyond it the delay grows linearly (overload).
    public var utilizationCap: Double

    public init(serviceTimeMs: Double, utilizationCap: Double = 0.95) {
        self.serviceTimeMs = serviceTimeMs
        self.utilizationCap = utilizationCap
    }

    /// Network part of one operation's latency.
    @inline(__always)
    public func networkMs(client: ZoneIndex, leaderZone: ZoneIndex, voterZones: [ZoneIndex], topology: Topology) -> Double {
        var nearest = Double.infinity
        for v in voterZones where v != leaderZone { nearest = Swift.min(nearest, topology.rtt(leaderZone, v)) }
        if !nearest.isFinite { nearest = 0 }
        return topology.rtt(client, leaderZone) + nearest
    }

    /// M/M/1-style service time at utilization `rho`: `s / (1 - rho)` up to the cap, then linear growth
    /// (each 1% over the cap adds 20 service times) so overload is expensive but finite.
    @inline(__always)
    public func serviceMs(utilization rho: Double) -> Double {
        let r = Swift.max(0, rho)
        if r <= utilizationCap { return serviceTimeMs / (1 - r) }
        return serviceTimeMs / (1 - utilizationCap) + (r - utilizationCap) * 2000 * serviceTimeMs
    }
}
