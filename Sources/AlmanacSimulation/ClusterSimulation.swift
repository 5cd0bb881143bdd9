import AlmanacAnswersAhead
import AlmanacRaft

/// A whole Raft cluster in one process: N replicas over a simulated network, disks and clock, a client
/// workload, a fault schedule (nemesis), and safety checkers that run as every event is processed.
/// Deterministic: the run is a function of ``SimulationOptions`` alone.
public struct ClusterSimulation: Sendable {
    enum Event: Sendable {
        case tick(slot: Int, incarnation: UInt64)
        case deliver(Message)
        case persisted(slot: Int, incarnation: UInt64, round: UInt64, throughWrite: Int)
        case crash(slot: Int, quickRestart: Bool)
        case restart(slot: Int)
        case nemesis
        case client
        /// Reactive fault: cut `slot` off from everyone.
        case isolate(slot: Int)
        /// Reactive fault: the leader `slot` ends up on the minority side of a partition.
        case partitionLeaderMinority(slot: Int)
        /// An async client's turn (``SimulationOptions/asyncClients``).
        case asyncClient(Int)
        /// A predictive client's turn (``SimulationOptions/predictiveClients``).
        case predictiveClient(Int)
    }

    enum Phase: Sendable { case faults, liveness, done }

    /// What the checkers know about a committed log position.
    struct CommittedEntry: Sendable {
        var term: Term
        /// State-machine digest after applying the entry.
        var digest: UInt64
        /// An upper bound on the term in which the entry was committed (the highest leader term seen
        /// when it was first applied).
        var committedByTerm: Term
    }

    struct EntryKey: Hashable, Sendable {
        var index: LogIndex
        var term: Term
    }

    struct EntryFingerprint: Sendable {
        var content: UInt64
        /// Term of the entry before it in the writer's log, or nil if unknown (compacted).
        var previousTerm: Term?
    }

    public let options: SimulationOptions
    /// Flow-control settings drawn per run (one entry per message sometimes, to split batches).
    let maxSizePerMsg: Int
    let maxInflightMsgs: Int
    let maxInflightBytes: Int
    var replicas: [Replica] = []
    var network: SimulatedNetwork
    var queue = EventQueue<Event>()
    var now: UInt64 = 0
    var phase = Phase.faults
    var networkRandom: Xoshiro256StarStar
    var faultRandom: Xoshiro256StarStar
    var diskRandom: Xoshiro256StarStar
    var workloadRandom: Xoshiro256StarStar
    var trace = StableHasher()
    var stats = SimulationStats()
    var violation: SafetyViolation?
    var eventLog: [String] = []

    // Checker state.
    var leaderOfTerm: [Term: NodeID] = [:]
    var highestLeaderTerm: Term = 0
    /// Indexed by log index (slot 0 unused).
    var committed: [CommittedEntry?] = [nil]
    var fingerprints: [EntryKey: EntryFingerprint] = [:]

    // Workload state.
    var history: [KeyValueOperation] = []
    /// History positions of writes proven never applied (their log slot holds another entry).
    var failedWrites: Set<Int> = []
    var acknowledged: [(opID: UInt64, index: LogIndex)] = []
    /// When each write was first applied by any replica (it had certainly taken effect by then).
    var firstAppliedAt: [UInt64: UInt64] = [:]
    var nextOperationID: UInt64 = 1
    /// The latest refusal of a proposal (for liveness diagnostics).
    var lastProposalError: RaftError?

    // Async durability (ClusterSimulation+AsyncClients.swift).
    var asyncClients: [AsyncClient] = []
    var nextSession: UInt64 = 1
    var asyncWrites: [SessionSequence: AsyncWriteRecord] = [:]
    /// Entries answered ahead of commit, not yet applied anywhere.
    var answersAhead: [EntryKey: SessionSequence] = [:]
    /// Where each session's write took effect (its first, non-duplicate application).
    var effectiveApplications: [SessionSequence: LogIndex] = [:]
    /// The session write each committed index carries (first application).
    var committedSessionWrites: [LogIndex: SessionSequence] = [:]

    // Potential entries (ClusterSimulation+PotentialEntries.swift).
    var predictiveClients: [PredictiveClient] = []
    /// Every value a leader predicted, and whether its client has written it yet (wrong
    /// predictions never are): a value still `false` in the state is a phantom.
    var predictedValues: [UInt64: Bool] = [:]
    var predictedWrites: [SessionSequence: PredictedWriteRecord] = [:]

    // Liveness phase.
    var livenessStart: UInt64 = 0
    var livenessWrites: [Int] = []
    static let livenessWriteCount = 3

    /// - Parameter makeStorage: the disk of each node id (the in-memory model by default; a real WAL
    ///   on a faulty file system can stand in). It must be deterministic for replays to hold.
    public init(options: SimulationOptions,
                makeStorage: (NodeID) -> any SimulatedRaftStorage = { _ in InMemoryRaftStorage() }) {
        self.options = options
        let slots = options.nodeCount + options.spareNodeCount
        network = SimulatedNetwork(slots: slots)
        networkRandom = .derived(seed: options.seed, stream: 1)
        faultRandom = .derived(seed: options.seed, stream: 2)
        diskRandom = .derived(seed: options.seed, stream: 3)
        workloadRandom = .derived(seed: options.seed, stream: 4)
        var setupRandom = Xoshiro256StarStar.derived(seed: options.seed, stream: 5)
        maxSizePerMsg = [1, 32, 512, 1 << 20][setupRandom.int(in: 0..<4)]
        maxInflightMsgs = [1, 2, 8, 256][setupRandom.int(in: 0..<4)]
        maxInflightBytes = [0, 4 << 10, 1 << 20][setupRandom.int(in: 0..<3)]
        for slot in 0..<slots {
            replicas.append(Replica(id: NodeID(slot + 1), isInitialMember: slot < options.nodeCount,
                                    keyCount: options.keyCount, snapshotEvery: setupRandom.int(in: 5...60),
                                    disk: makeStorage(NodeID(slot + 1))))
        }
    }

    /// Runs one simulation to completion (or to its first violation).
    public static func run(_ options: SimulationOptions) -> SimulationReport {
        var simulation = ClusterSimulation(options: options)
        return simulation.run()
    }

    public mutating func run() -> SimulationReport {
        for slot in 0..<options.nodeCount { startNode(slot) }
        queue.push(.nemesis, at: 50_000)
        queue.push(.client, at: 1_000)
        startAsyncClients()
        startPredictiveClients()
        while violation == nil && phase != .done {
            if phase == .faults && stats.faultSteps >= options.steps { beginLiveness() }
            guard let (time, event) = queue.pop() else {
                fail(.liveness, "event queue ran dry")
                break
            }
            now = time
            if phase == .faults { stats.faultSteps += 1 } else { stats.livenessSteps += 1 }
            record(event)
            handle(event)
            if phase == .liveness && violation == nil { checkLivenessProgress() }
        }
        if violation == nil { finalChecks() }
        stats.simulatedMicros = now
        trace.combine(stats.maxCommitIndex)
        return SimulationReport(options: options, violation: violation, traceHash: trace.value, stats: stats,
                                eventLog: eventLog)
    }

    /// Records a notable (rare) event when an event log is kept.
    mutating func note(_ text: String) {
        guard options.eventLogLength > 0 else { return }
        if eventLog.count >= options.eventLogLength { eventLog.removeFirst(eventLog.count - options.eventLogLength + 1) }
        eventLog.append("step \(stepNumber) t=\(now / 1000)ms: " + text)
    }

    var stepNumber: Int { stats.faultSteps + stats.livenessSteps }

    mutating func fail(_ invariant: Invariant, _ detail: String) {
        guard violation == nil else { return }
        violation = SafetyViolation(invariant: invariant, detail: detail, step: stepNumber, time: now)
        note("VIOLATION \(invariant.rawValue): \(detail)")
    }

    // MARK: - Events

    mutating func handle(_ event: Event) {
        switch event {
        case .tick(let slot, let incarnation):
            guard replicas[slot].isUp, replicas[slot].incarnation == incarnation else { return }
            replicas[slot].raft?.tick()
            queue.push(.tick(slot: slot, incarnation: incarnation), at: now + options.tickMicros)
            if options.predictiveClients > 0 { expireOverduePredictions(slot) }
            driveReady(slot)
        case .deliver(let message):
            deliver(message)
        case .persisted(let slot, let incarnation, let round, let throughWrite):
            guard replicas[slot].isUp, replicas[slot].incarnation == incarnation else { return }
            roundPersisted(slot, round: round, throughWrite: throughWrite)
        case .crash(let slot, let quickRestart):
            guard replicas[slot].isUp, phase == .faults else { return }
            crashNode(slot, quickRestart: quickRestart)
        case .restart(let slot):
            guard replicas[slot].lifecycle == .down else { return }
            startNode(slot)
        case .nemesis:
            guard phase == .faults else { return }
            if options.injectFaults || options.reconfigure { nemesisAction() }
            queue.push(.nemesis, at: now + UInt64(faultRandom.int(in: 10_000...150_000)))
        case .isolate(let slot):
            guard phase == .faults else { return }
            isolate(slot)
        case .partitionLeaderMinority(let slot):
            guard phase == .faults else { return }
            partitionLeaderIntoMinority(slot)
        case .client:
            if phase == .faults { clientAction() } else if phase == .liveness { livenessClientAction() }
            queue.push(.client, at: now + UInt64(workloadRandom.int(in: 1_000...15_000)))
        case .asyncClient(let client):
            asyncClientAction(client)
        case .predictiveClient(let client):
            predictiveClientAction(client)
        }
    }

    mutating func record(_ event: Event) {
        trace.combine(now)
        switch event {
        case .tick(let slot, _): trace.combine(1); trace.combine(UInt64(slot))
        case .deliver(let m):
            trace.combine(2)
            trace.combine(UInt64(m.type.rawValue) | m.from << 8 | m.to << 16)
            trace.combine(m.term)
            trace.combine(m.index)
            trace.combine(UInt64(m.entries.count))
            trace.combine(m.commit)
        case .persisted(let slot, _, let round, _): trace.combine(3); trace.combine(UInt64(slot)); trace.combine(round)
        case .crash(let slot, _): trace.combine(4); trace.combine(UInt64(slot))
        case .restart(let slot): trace.combine(5); trace.combine(UInt64(slot))
        case .nemesis: trace.combine(6)
        case .client: trace.combine(7)
        case .isolate(let slot): trace.combine(8); trace.combine(UInt64(slot))
        case .partitionLeaderMinority(let slot): trace.combine(9); trace.combine(UInt64(slot))
        case .asyncClient(let client): trace.combine(10); trace.combine(UInt64(client))
        case .predictiveClient(let client): trace.combine(11); trace.combine(UInt64(client))
        }
    }

    // MARK: - Network

    mutating func send(_ messages: [Message]) {
        // Order by destination (stable), so the run does not depend on dictionary order inside the core.
        let ordered = messages.count > 1 ? stableSortedByDestination(messages) : messages
        for message in ordered {
            stats.messagesSent += 1
            guard message.to >= 1, message.to <= NodeID(replicas.count), message.to != message.from else {
                stats.messagesDropped += 1
                continue
            }
            if networkRandom.chance(network.dropRate) {
                stats.messagesDropped += 1
                continue
            }
            queue.push(.deliver(message), at: now + network.latency(using: &networkRandom))
            if networkRandom.chance(network.duplicateRate) {
                stats.messagesDuplicated += 1
                queue.push(.deliver(message), at: now + network.latency(using: &networkRandom))
            }
        }
    }

    func stableSortedByDestination(_ messages: [Message]) -> [Message] {
        messages.enumerated().sorted { a, b in
            a.element.to != b.element.to ? a.element.to < b.element.to : a.offset < b.offset
        }.map(\.element)
    }

    mutating func deliver(_ message: Message) {
        let slot = Int(message.to) - 1
        let from = Int(message.from) - 1
        guard slot >= 0, slot < replicas.count, from >= 0, from < replicas.count else { return }
        let delivered = replicas[slot].isUp && !network.isBlocked(from: from, to: slot)
        if message.type == .installSnapshot {
            note("snapshot \(message.snapshot?.metadata.index ?? 0) from \(message.from) to \(message.to) term \(message.term): \(delivered ? "delivered" : "lost")")
        }
        if message.type == .installSnapshot && replicas[from].isUp {
            replicas[from].raft?.reportSnapshot(message.to, success: delivered)
            driveReady(from)
        }
        guard delivered else {
            stats.messagesDropped += 1
            return
        }
        replicas[slot].raft?.step(message)
        driveReady(slot)
    }

    // MARK: - Node lifecycle

    func raftConfig(for slot: Int) -> RaftConfig {
        var config = RaftConfig(
            id: replicas[slot].id, electionTick: options.electionTick, heartbeatTick: options.heartbeatTick,
            maxSizePerMsg: maxSizePerMsg, maxInflightMsgs: maxInflightMsgs,
            maxInflightBytes: maxInflightBytes == 0 ? 0 : max(maxInflightBytes, maxSizePerMsg),
            maxUncommittedEntriesSize: 64 << 10, maxEntrySize: 1 << 10, preVote: true, checkQuorum: true,
            readOnlyOption: .safe, testingFaults: options.fault.map { [$0] } ?? [])
        // Half the seeds (of both cluster sizes) run without the eager commit broadcast, as the
        // node runtime does: the commit index then travels only on appends and heartbeats.
        config.broadcastCommit = (options.seed / 2) % 2 == 0
        return config
    }

    mutating func startNode(_ slot: Int) {
        replicas[slot].incarnation += 1
        let incarnation = replicas[slot].incarnation
        let image = replicas[slot].disk.durable
        let bootstrap = replicas[slot].isInitialMember
            ? ConfState(voters: (1...options.nodeCount).map { NodeID($0) }) : nil
        let initial = RaftInitialState(hardState: image.hardState, snapshot: image.snapshot, entries: image.entries,
                                       bootstrap: bootstrap)
        let random = Xoshiro256StarStar.derived(seed: options.seed, stream: 1_000 + UInt64(slot) * 1_000_000 + incarnation)
        let raft = RaftNode(config: raftConfig(for: slot), initialState: initial, random: random)
        var machine = KeyValueStateMachine(keyCount: options.keyCount)
        if let snapshot = image.snapshot {
            guard let restored = KeyValueStateMachine(snapshotData: snapshot.data) else {
                fail(.storageContract, "node \(slot + 1): durable snapshot does not decode")
                return
            }
            machine = restored
        }
        let recoveredCommit = raft.status.commit
        if recoveredCommit < replicas[slot].durableCommit {
            fail(.commitMonotonic, "node \(slot + 1) restarted with commit \(recoveredCommit) below its durable commit \(replicas[slot].durableCommit)")
        }
        replicas[slot].raft = raft
        replicas[slot].coreAssertionsSeen = 0
        replicas[slot].machine = machine
        replicas[slot].lifecycle = .up
        replicas[slot].role = .follower
        replicas[slot].rounds.reset()
        replicas[slot].hardStates = HardStateWrites(written: image.hardState)
        replicas[slot].lastSyncAt = 0
        replicas[slot].compactionOwed = false
        replicas[slot].commit = recoveredCommit
        replicas[slot].ahead = AnswersAhead()
        replicas[slot].leadingSince = nil
        replicas[slot].asyncWaits = [:]
        replicas[slot].issued.removeAll()
        replicas[slot].issueWaits = [:]
        replicas[slot].predictiveWaits = [:]
        note("node \(slot + 1) starts (life \(incarnation)): term \(image.hardState.term) vote \(image.hardState.vote) commit \(image.hardState.commit) snapshot \(image.snapshotIndex) last \(image.lastIndex)")
        queue.push(.tick(slot: slot, incarnation: incarnation), at: now + UInt64(faultRandom.int(in: 1...Int(options.tickMicros))))
        driveReady(slot)
    }

    mutating func crashNode(_ slot: Int, quickRestart: Bool = false) {
        guard replicas[slot].isUp else { return }
        stats.crashes += 1
        if replicas[slot].role == .leader {
            asyncLeadershipEnds(slot)
            potentialLeadershipEnds(slot)
        }
        dropWaits(at: slot)
        dropPredictiveWaits(at: slot)
        replicas[slot].lifecycle = .down
        replicas[slot].raft = nil
        replicas[slot].rounds.reset()
        replicas[slot].role = .follower
        replicas[slot].pendingWrites = [:]
        replicas[slot].pendingReads = [:]
        replicas[slot].waitingReads = []
        let torn = diskRandom.chance(0.5)
        if torn && replicas[slot].disk.hasUnsyncedWrites { stats.tornCrashes += 1 }
        let before = replicas[slot].disk.visible.lastIndex
        replicas[slot].disk.crash(mode: torn ? .tornPrefix : .loseUnsynced, using: &diskRandom)
        note("node \(slot + 1) CRASHES (\(torn ? "torn" : "clean")): last index \(before) -> \(replicas[slot].disk.durable.lastIndex), durable term \(replicas[slot].disk.durable.hardState.term) vote \(replicas[slot].disk.durable.hardState.vote)")
        if phase == .faults {
            let downtime = quickRestart ? faultRandom.int(in: 200...5_000)
                : faultRandom.chance(0.5) ? faultRandom.int(in: 1_000...40_000) : faultRandom.int(in: 40_000...600_000)
            queue.push(.restart(slot: slot), at: now + UInt64(downtime))
        }
    }

    /// The live node that believes it leads the highest term, if any.
    func leaderSlot() -> Int? {
        var best: Int?
        for slot in replicas.indices where replicas[slot].isUp && replicas[slot].role == .leader {
            if let b = best, replicas[b].term >= replicas[slot].term { continue }
            best = slot
        }
        return best
    }

    var upSlots: [Int] { replicas.indices.filter { replicas[$0].isUp } }
}
