import AlmanacKeyspace
/// Settings of the reactive replica rebalancer.
public struct ReactiveReplicaConfig: Sendable, Hashable {
    /// Per-zone request rates are averaged over this trailing window before a replica move is considered
    /// (TiKV PD's hot-region statistics and CockroachDB's store rebalancer both act on minutes of history).
    public var windowSeconds: Double = 300
    /// A voter set must cut the request-weighted latency (with its best leader) by this fraction.
    public var minImprovement: Double = 0.2
    /// No new replica move for a shard within this many seconds of its last one.
    public var cooldownSeconds: Double = 1800
    /// Global budget of replica moves copying data at once.
    public var maxMovesInFlight: Int = 8
    /// A new voter's node must stay under this measured utilization with the shard's load added.
    public var targetMaxUtilization: Double = 0.8

    public init() {}
}

/// The reactive replica rebalancer: after the load has shifted, moves voters (not only leases) toward the zones
/// the requests come from, like CockroachDB's store rebalancer and TiKV PD's hot-region scheduler.
///
/// Every step, for each shard without a move in flight and out of cooldown, it scores every voter set with one
/// voter per zone by the measured per-zone rates of the trailing window (request-weighted network latency with
/// the set's best leader) and prepares the moves to the best set when it beats the current voters by
/// `minImprovement`. Prepared learners are committed as soon as all of a shard's moves are ready, with the
/// leader on the best voter of the new set; moves that are no longer an improvement are aborted.
/// It acts only on what it has measured: it is always behind a shift by the window plus the move time.
public struct ReactiveReplicaRebalancer: Sendable {
    public let config: ReactiveReplicaConfig
    private let latency: LatencyModel
    private var lastChange: [ShardID: Double] = [:]
    private var nextMoveID: MoveID
    /// Move ids this rebalancer prepared (a predictive policy sharing the simulator has its own).
    private var mine: Set<MoveID> = []

    public init(config: ReactiveReplicaConfig, latency: LatencyModel, firstMoveID: MoveID = 1 << 40) {
        self.config = config
        self.latency = latency
        self.nextMoveID = firstMoveID
    }

    /// Request-weighted network latency (op-ms/s) of `rates` on `voters` with their best leader.
    func score(_ rates: [Double], voters: [ZoneIndex], topology: Topology) -> (leaderZone: ZoneIndex, cost: Double) {
        var best: (ZoneIndex, Double) = (voters.first ?? 0, .infinity)
        for l in voters {
            var c = 0.0
            for z in rates.indices where rates[z] > 0 { c += rates[z] * latency.networkMs(client: z, leaderZone: l, voterZones: voters, topology: topology) }
            if c < best.1 { best = (l, c) }
        }
        return best
    }

    /// All zone sets of `rf` zones that have nodes.
    static func zoneSets(_ topology: Topology, rf: Int) -> [[ZoneIndex]] {
        let zones = (0..<topology.zoneCount).filter { !topology.nodesByZone[$0].isEmpty }
        var out: [[ZoneIndex]] = []
        func rec(_ start: Int, _ acc: [ZoneIndex]) {
            if acc.count == rf { out.append(acc); return }
            guard start < zones.count else { return }
            for i in start..<zones.count { rec(i + 1, acc + [zones[i]]) }
        }
        rec(0, [])
        return out
    }

    /// The actions for this step. `rates(shard)` gives the shard's per-zone ops/s over `config.windowSeconds`.
    public mutating func actions(_ view: PlacementView, rates: (Shard) -> [Double]) -> [PlacementAction] {
        let topo = view.topology
        var out: [PlacementAction] = []
        var util = view.nodeUtilization
        // Commit (or abort) this rebalancer's moves whose learners are all ready.
        let byShard = Dictionary(grouping: view.moves.filter { mine.contains($0.id) }, by: \.shard)
        for (id, ms) in byShard.sorted(by: { $0.key < $1.key }) {
            guard ms.allSatisfy(\.isPrepared), let s = view.map.shard(id) else { continue }
            let r = rates(s)
            var zones = s.voterZones
            for m in ms { zones.removeAll { $0 == m.removeZone }; zones.append(m.add.zone) }
            let now = score(r, voters: s.voterZones, topology: topo).cost
            let (lz, next) = score(r, voters: zones, topology: topo)
            if next < now * (1 - config.minImprovement) {
                let leader = ms.first(where: { $0.add.zone == lz })?.add.node ?? s.voters.first(where: { $0.zone == lz })?.node
                for (i, m) in ms.enumerated() { out.append(.commitReplicaMove(id: m.id, newLeader: i == ms.count - 1 ? leader : nil)); mine.remove(m.id) }
            } else {
                for m in ms { out.append(.abortReplicaMove(id: m.id)); mine.remove(m.id) }
            }
            lastChange[id] = view.time
        }
        var inFlight = view.moves.filter(\.isPreparing).count
        let busy = Set(view.moves.map(\.shard))
        let sets = Self.zoneSets(topo, rf: view.map.shards.first?.voters.count ?? 0)
        let loads = view.map.shards.map { ($0, rates($0)) }.sorted { $0.1.reduce(0, +) > $1.1.reduce(0, +) }
        for (s, r) in loads where !busy.contains(s.id) {
            let tot = r.reduce(0, +)
            guard tot > 0, view.time - (lastChange[s.id] ?? -.infinity) >= config.cooldownSeconds else { continue }
            let current = score(r, voters: s.voterZones, topology: topo).cost
            var best: (zones: [ZoneIndex], cost: Double)?
            for zs in sets where Set(zs) != Set(s.voterZones) {
                let c = score(r, voters: zs, topology: topo).cost
                if c < current * (1 - config.minImprovement), c < (best?.cost ?? .infinity) { best = (zs, c) }
            }
            guard let target = best else { continue }
            let adds = target.zones.filter { !s.voterZones.contains($0) }
            let removes = s.voterZones.filter { !target.zones.contains($0) }
            guard adds.count == removes.count, inFlight + adds.count <= config.maxMovesInFlight else { continue }
            var nodes: [NodeIndex] = []
            for z in adds {
                guard let n = topo.nodesByZone[z].min(by: { util[$0] < util[$1] || (util[$0] == util[$1] && $0 < $1) }),
                      util[n] + tot / topo.nodes[n].capacityOpsPerSec <= config.targetMaxUtilization else { break }
                nodes.append(n)
            }
            guard nodes.count == adds.count else { continue }
            for ((z, n), rz) in zip(zip(adds, nodes), removes) {
                let id = nextMoveID
                nextMoveID += 1
                mine.insert(id)
                out.append(.prepareReplicaMove(ReplicaMove(id: id, shard: s.id, removeZone: rz, add: ReplicaPlacement(zone: z, node: n),
                                                           bytes: view.bytesPerSegment * Double(s.segments.count), startedAt: view.time, anticipatedAt: nil)))
                util[n] += tot / topo.nodes[n].capacityOpsPerSec
            }
            inFlight += adds.count
            lastChange[s.id] = view.time
        }
        // Forget moves the simulator dropped (failed or rejected): they are re-planned after the cooldown.
        var live = Set(view.moves.map(\.id))
        for a in out { if case .prepareReplicaMove(let m) = a { live.insert(m.id) } }
        mine.formIntersection(live)
        return out
    }
}
