import AlmanacKeyspace
/// Settings of the CockroachDB-like reactive policy.
public struct ReactiveConfig: Sendable, Hashable {
    /// Request counts are taken over this trailing window (seconds).
    public var windowSeconds: Double = 30
    /// A lease moves only if the request-weighted latency improves by this fraction.
    public var minImprovement: Double = 0.1
    /// At most this many leadership transfers per second per source node.
    public var transfersPerSecondPerNode: Double = 1
    /// A shard with more than one segment splits above this load (ops/s); nil disables load splits.
    public var splitThresholdOpsPerSec: Double?
    /// A node above this measured utilization sheds leases.
    public var overfullUtilization: Double = 0.9
    /// A lease is never moved to a node that would exceed this measured utilization.
    public var targetMaxUtilization: Double = 0.8
    /// Replica moves after load shifts (store rebalancer / hot-region scheduler); nil = leases only.
    public var replicas: ReactiveReplicaConfig?

    public init(splitThresholdOpsPerSec: Double? = nil) { self.splitThresholdOpsPerSec = splitThresholdOpsPerSec }
}

/// Reactive placement like CockroachDB's: per-zone request counts over ~30 s, a lease transfer when
/// remote load dominates (follow-the-workload, guarded by measured load), lease shedding from overfull
/// nodes, at most one transfer per second per node, and a load split at a QPS threshold.
/// With `config.replicas` set it also moves voters toward the measured load (`ReactiveReplicaRebalancer`).
public struct ReactivePolicy: PlacementPolicy {
    public var name: String { config.replicas == nil ? "reactive-leases" : "reactive" }
    public let config: ReactiveConfig
    private let latency: LatencyModel
    /// Trailing per-step per-segment per-zone ops, newest last.
    private var recent: [[[Double]]] = []
    private var recentSeconds: [Double] = []
    private var rebalancer: ReactiveReplicaRebalancer?

    public init(config: ReactiveConfig, latency: LatencyModel) {
        self.config = config
        self.latency = latency
        self.rebalancer = config.replicas.map { ReactiveReplicaRebalancer(config: $0, latency: latency) }
    }

    /// Feeds one step of observations without acting (keeps the windows warm while another policy acts).
    public mutating func observe(_ view: PlacementView) {
        var ops = view.segmentReads
        for s in ops.indices { for z in ops[s].indices { ops[s][z] += view.segmentWrites[s][z] } }
        recent.append(ops)
        recentSeconds.append(view.stepSeconds)
        let keep = Swift.max(config.windowSeconds, config.replicas?.windowSeconds ?? 0)
        while recentSeconds.count > 1, recentSeconds.dropFirst().reduce(0, +) >= keep {
            recent.removeFirst()
            recentSeconds.removeFirst()
        }
    }

    /// Per-zone request rate (ops/s) of `shard` over the window.
    /// Per-zone request rate (ops/s) of `shard` over the newest `window` seconds (default: the lease window).
    func zoneRates(_ shard: Shard, zones: Int, window: Double? = nil) -> [Double] {
        let w = window ?? config.windowSeconds
        var secs = 0.0
        var out = Array(repeating: 0.0, count: zones)
        for (step, dt) in zip(recent, recentSeconds).reversed() {
            guard secs < w else { break }
            secs += dt
            for s in shard.segments.lazy.map(Int.init) where s < step.count { for z in 0..<zones { out[z] += step[s][z] } }
        }
        return out.map { $0 / Swift.max(1e-9, secs) }
    }

    public mutating func decide(_ view: PlacementView) -> [PlacementAction] {
        observe(view)
        var out = actions(view)
        if var rb = rebalancer, let w = config.replicas?.windowSeconds {
            let zones = view.topology.zoneCount
            let moving = rb.actions(view) { zoneRates($0, zones: zones, window: w) }
            // A shard whose voters change this step takes its leader from the commit, not from a lease transfer.
            let committing = Set(moving.compactMap { a -> ShardID? in
                if case .commitReplicaMove(let id, _) = a { return view.moves.first { $0.id == id }?.shard }
                return nil
            })
            out = out.filter { if case .transferLeadership(let id, _) = $0 { return !committing.contains(id) } else { return true } } + moving
            rebalancer = rb
        }
        return out
    }

    /// The actions for the current window (assumes `observe` was called for this step).
    public func actions(_ view: PlacementView) -> [PlacementAction] {
        let topo = view.topology
        var out: [PlacementAction] = []
        var tokens = Array(repeating: config.transfersPerSecondPerNode * view.stepSeconds, count: topo.nodes.count)
        var util = view.nodeUtilization
        let movingShards = Set(view.moves.map(\.shard))
        var rates: [ShardID: [Double]] = [:]
        for s in view.map.shards { rates[s.id] = zoneRates(s, zones: topo.zoneCount) }
        func total(_ s: Shard) -> Double { rates[s.id]?.reduce(0, +) ?? 0 }

        // Load splits at the QPS threshold (split at the load midpoint).
        if let threshold = config.splitThresholdOpsPerSec {
            for s in view.map.shards where s.segments.count > 1 && total(s) > threshold && !movingShards.contains(s.id) {
                var segLoads: [Double] = []
                for seg in s.segments {
                    segLoads.append(recent.reduce(0) { acc, step in acc + (Int(seg) < step.count ? step[Int(seg)].reduce(0, +) : 0) })
                }
                let half = segLoads.reduce(0, +) / 2
                var acc = 0.0
                var cut = s.segments.lowerBound + 1
                for (k, l) in segLoads.enumerated() {
                    acc += l
                    // Cut after the segment where the cumulative load reaches half (never an empty side).
                    if acc >= half { cut = Swift.min(s.segments.upperBound - 1, s.segments.lowerBound + SegmentID(Swift.max(1, k))); break }
                }
                out.append(.reshard(.split(at: cut, loadOpsPerSec: total(s))))
            }
        }

        func score(_ r: [Double], leader: ReplicaPlacement, voters: [ZoneIndex], nodeUtil: Double) -> Double {
            let svc = latency.serviceMs(utilization: nodeUtil)
            var sc = 0.0
            for z in 0..<r.count where r[z] > 0 {
                sc += r[z] * (latency.networkMs(client: z, leaderZone: leader.zone, voterZones: voters, topology: topo) + svc)
            }
            return sc
        }

        // Lease shedding from overfull nodes, hottest leases first.
        for n in topo.nodes.indices where util[n] > config.overfullUtilization {
            let led = view.map.shards.filter { $0.leader == n }.sorted { total($0) > total($1) }
            for s in led {
                guard util[n] > config.overfullUtilization, tokens[n] >= 1 else { break }
                let delta = total(s) / topo.nodes[n].capacityOpsPerSec
                guard let target = s.voters.filter({ $0.node != n }).min(by: { util[$0.node] < util[$1.node] }) else { continue }
                let tDelta = total(s) / topo.nodes[target.node].capacityOpsPerSec
                guard util[target.node] + tDelta < config.targetMaxUtilization else { continue }
                out.append(.transferLeadership(shard: s.id, to: target.node))
                tokens[n] -= 1
                util[n] -= delta
                util[target.node] += tDelta
            }
        }
        let shed = Set(out.compactMap { if case .transferLeadership(let id, _) = $0 { return id } else { return nil } })

        // Follow the workload: move the lease when remote load dominates and a voter serves it better.
        for s in view.map.shards.sorted(by: { total($0) > total($1) }) where !shed.contains(s.id) {
            guard let r = rates[s.id], let current = s.voters.first(where: { $0.node == s.leader }) else { continue }
            let tot = r.reduce(0, +)
            guard tot > 0, tokens[s.leader] >= 1 else { continue }
            let remote = tot - r[current.zone]
            guard remote > r[current.zone] else { continue }
            let zones = s.voterZones
            let currentScore = score(r, leader: current, voters: zones, nodeUtil: util[current.node])
            var best: (ReplicaPlacement, Double)?
            for v in s.voters where v.node != s.leader {
                let tDelta = tot / topo.nodes[v.node].capacityOpsPerSec
                guard util[v.node] + tDelta <= config.targetMaxUtilization else { continue }
                let sc = score(r, leader: v, voters: zones, nodeUtil: util[v.node] + tDelta)
                if sc < (best?.1 ?? .infinity) { best = (v, sc) }
            }
            guard let (target, sc) = best, sc < currentScore * (1 - config.minImprovement) else { continue }
            out.append(.transferLeadership(shard: s.id, to: target.node))
            tokens[s.leader] -= 1
            util[s.leader] -= tot / topo.nodes[s.leader].capacityOpsPerSec
            util[target.node] += tot / topo.nodes[target.node].capacityOpsPerSec
        }
        return out
    }
}
