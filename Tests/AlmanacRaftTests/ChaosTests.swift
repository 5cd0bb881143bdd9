import Testing
@testable import AlmanacRaft

/// A small randomized cluster exercise: asynchronous delivery with drops, duplicates and reordering,
/// partitions, crash-restarts, membership changes, transfers, compaction and reads, checking safety
/// after every step and liveness at the end. (The whole-cluster simulator lives in
/// AlmanacSimulation; this is the core's own smoke net.)
struct ChaosCluster {
    var rng: SplitMix64
    var nodes: [NodeID: RaftNode] = [:]
    var storage: [NodeID: TestStorage] = [:]
    var configs: [NodeID: RaftConfig] = [:]
    var queue: [Message] = []
    var cut: Set<[NodeID]> = []
    var leaderOfTerm: [Term: NodeID] = [:]
    var appliedAt: [LogIndex: Entry] = [:]
    var durableCommit: [NodeID: LogIndex] = [:]
    var proposals = 0
    /// Outstanding reads: context -> the highest commit index any node had reached when issued.
    var readsIssued: [[UInt8]: LogIndex] = [:]
    var readsServed = 0
    var violations: [String] = []
    let ids: [NodeID] = [1, 2, 3, 4, 5]

    /// Chance that a node crashes in the middle of a Ready: after sending `messages`, before persisting.
    var crashBeforePersist = 0.0
    var dropRate = 0.05

    init(seed: UInt64, faults: Set<SafetyFault> = [], maxSizePerMsg: Int = 64) {
        rng = SplitMix64(seed: seed)
        for id in ids {
            var c = RaftConfig(id: id, electionTick: 10, heartbeatTick: 1, maxSizePerMsg: maxSizePerMsg, maxInflightMsgs: 4,
                               maxInflightBytes: 256, maxUncommittedEntriesSize: 1024)
            c.testingFaults = faults
            configs[id] = c
            storage[id] = TestStorage()
            let boot: ConfState? = id <= 3 ? ConfState(voters: [1, 2, 3]) : nil
            nodes[id] = RaftNode(config: c, initialState: RaftInitialState(bootstrap: boot),
                                 random: SplitMix64(seed: seed &+ id))
        }
    }

    mutating func chance(_ p: Double) -> Bool { Double(rng.next() % 1_000_000) / 1_000_000 < p }
    mutating func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }

    mutating func processReady(_ id: NodeID) {
        guard var node = nodes[id], node.hasReady else { return }
        let rd = node.ready()
        queue += rd.messages
        if crashBeforePersist > 0 && chance(crashBeforePersist) {
            restart(id) // the node dies before this Ready is durable
            return
        }
        storage[id]!.persist(rd)
        let commit = storage[id]!.hardState.commit
        if commit < durableCommit[id, default: 0] {
            violations.append("durable commit of \(id) decreased \(durableCommit[id]!) -> \(commit)")
        }
        durableCommit[id] = max(durableCommit[id, default: 0], commit)
        queue += rd.messagesAfterPersist
        storage[id]!.apply(rd)
        for rs in rd.readStates {
            // Linearizability of ReadIndex: the read index covers every write committed before
            // the read was issued (commit is the point where a write may be acknowledged).
            if let floor = readsIssued.removeValue(forKey: rs.context) {
                readsServed += 1
                if rs.index < floor {
                    violations.append("read \(rs.context) served at index \(rs.index) < \(floor) committed before it was issued")
                }
            }
        }
        for e in rd.committedEntries {
            if let prior = appliedAt[e.index], prior != e {
                violations.append("state machine safety: index \(e.index) applied as \(prior) and \(e) (node \(id))")
            }
            appliedAt[e.index] = e
        }
        node.advance(rd)
        nodes[id] = node
        violations += node.invariantViolations
    }

    mutating func checkLeaders() {
        for id in ids {
            let s = nodes[id]!.status
            guard s.role == .leader else { continue }
            if let other = leaderOfTerm[s.term], other != id {
                violations.append("two leaders in term \(s.term): \(other) and \(id)")
            }
            leaderOfTerm[s.term] = id
        }
    }

    mutating func deliverSome() {
        guard !queue.isEmpty else { return }
        let n = 1 + Int(rng.next() % UInt64(min(queue.count, 8)))
        for _ in 0..<n where !queue.isEmpty {
            let i = chance(0.7) ? 0 : Int(rng.next() % UInt64(queue.count)) // mostly FIFO, some reordering
            let m = queue.remove(at: i)
            if cut.contains([m.from, m.to]) || chance(dropRate) { continue } // partition or drop
            if chance(0.03) { queue.append(m) } // duplicate
            nodes[m.to]?.step(m)
        }
    }

    mutating func restart(_ id: NodeID) {
        var initial = storage[id]!.initialState
        initial.bootstrap = id <= 3 ? ConfState(voters: [1, 2, 3]) : nil
        nodes[id] = RaftNode(config: configs[id]!, initialState: initial, random: SplitMix64(seed: rng.next()))
        storage[id]!.applied = []
        storage[id]!.appliedIndex = storage[id]!.snapshot?.metadata.index ?? 0
        queue.removeAll { $0.to == id }
    }

    var leader: NodeID? { ids.first { nodes[$0]!.status.role == .leader } }

    mutating func randomAction() {
        let r = rng.next() % 100
        switch r {
        case 0..<30:
            if let l = leader {
                proposals += 1
                _ = try? nodes[l]!.propose(Array("p\(proposals)".utf8))
            }
        case 30..<32:
            cut = []
            let a = pick(ids), b = pick(ids)
            if a != b { cut.insert([a, b]); cut.insert([b, a]) }
        case 32..<34:
            cut = []
        case 34..<35:
            let victim = pick(ids)
            cut = []
            for o in ids where o != victim { cut.insert([victim, o]); cut.insert([o, victim]) }
        case 35..<36:
            restart(pick(ids))
        case 36..<38:
            if let l = leader {
                let target = pick(ids)
                let kind = pick([ConfChangeSingle.Kind.addVoter, .addLearner, .removeNode])
                var change = ConfChange([ConfChangeSingle(kind, target)])
                if chance(0.3) {
                    change = ConfChange([ConfChangeSingle(kind, target), ConfChangeSingle(pick([.addVoter, .addLearner]), pick(ids))])
                }
                _ = try? nodes[l]!.proposeConfChange(change)
            }
        case 38..<39:
            if let l = leader { try? nodes[l]!.transferLeadership(to: pick(ids)) }
        case 39..<41:
            let id = pick(ids)
            let st = nodes[id]!.status
            if st.applied > st.firstIndex + 5, let e = storage[id]!.applied.last(where: { $0.index == st.applied }) {
                let snap = Snapshot(metadata: SnapshotMetadata(index: st.applied, term: e.term, confState: st.confState),
                                    data: [])
                if (try? nodes[id]!.compact(snapshot: snap)) != nil {
                    storage[id]!.snapshot = snap
                    storage[id]!.entries.removeAll { $0.index <= snap.metadata.index }
                }
            }
        case 41..<43:
            let reader = pick(ids)
            let context = Array("r\(rng.next())".utf8)
            let floor = ids.map { nodes[$0]!.status.commit }.max() ?? 0
            if (try? nodes[reader]!.readIndex(context: context)) != nil { readsIssued[context] = floor }
        default:
            break
        }
    }

    mutating func step() {
        randomAction()
        if chance(0.5) { for id in ids { nodes[id]!.tick() } }
        for id in ids { processReady(id) }
        deliverSome()
        for id in ids { processReady(id) }
        checkLeaders()
    }

    /// Heals everything and runs until every voter applied one final proposal.
    mutating func settle(maxTicks: Int) -> Bool {
        cut = []
        var marker: LogIndex?
        var markerTerm: Term = 0
        for _ in 0..<maxTicks {
            for id in ids { nodes[id]!.tick() }
            for _ in 0..<20 {
                for id in ids { processReady(id) }
                while !queue.isEmpty { let m = queue.removeFirst(); nodes[m.to]?.step(m) }
            }
            checkLeaders()
            if let l = leader, markerTerm != nodes[l]!.status.term {
                // (Re-)propose under each new leader: an entry of a deposed leader may be lost.
                if let index = try? nodes[l]!.propose([0xFF]) { marker = index; markerTerm = nodes[l]!.status.term }
            }
            if let index = marker, let l = leader {
                let members = nodes[l]!.status.confState
                let all = members.voters + members.learners + members.votersOutgoing
                if all.allSatisfy({ nodes[$0]!.status.applied >= index }) { return true }
            }
        }
        return false
    }

    func describe() -> String {
        ids.map { id in
            let s = nodes[id]!.status
            return "n\(id) \(s.role) t\(s.term) lead\(s.leader) commit\(s.commit) applied\(s.applied) last\(s.lastIndex) conf\(s.confState.voters)/\(s.confState.learners)/out\(s.confState.votersOutgoing) prog\(s.progress.mapValues { "\($0.state) m\($0.match) n\($0.next) act\($0.recentActive)" })"
        }.joined(separator: "\n")
    }
}

@Suite struct ChaosTests {
    @Test(arguments: 0..<30 as Range<UInt64>)
    func chaos_safetyAndLivenessUnderFaults(seed: UInt64) {
        var cluster = ChaosCluster(seed: seed)
        for _ in 0..<1500 { cluster.step() }
        #expect(cluster.violations.isEmpty, "seed \(seed): \(cluster.violations.prefix(3))")
        let live = cluster.settle(maxTicks: 300)
        #expect(live, "seed \(seed): no progress after healing\n\(cluster.describe())")
        #expect(cluster.violations.isEmpty, "seed \(seed): \(cluster.violations.prefix(3))")
        #expect(cluster.appliedAt.count > 5, "seed \(seed): too little progress to mean anything")
        #expect(cluster.readsServed > 0, "seed \(seed): no read was served")
    }

    /// Harsher schedule: one entry per append, 10% drops, crashes in the middle of a Ready.
    @Test(arguments: 100..<116 as Range<UInt64>)
    func chaos_harshScheduleWithMidReadyCrashes(seed: UInt64) {
        var cluster = ChaosCluster(seed: seed, maxSizePerMsg: 1)
        cluster.crashBeforePersist = 0.01
        cluster.dropRate = 0.1
        for _ in 0..<1500 { cluster.step() }
        #expect(cluster.violations.isEmpty, "seed \(seed): \(cluster.violations.prefix(3))")
        let live = cluster.settle(maxTicks: 400)
        #expect(live, "seed \(seed): no progress after healing\n\(cluster.describe())")
        #expect(cluster.violations.isEmpty, "seed \(seed): \(cluster.violations.prefix(3))")
    }
}
