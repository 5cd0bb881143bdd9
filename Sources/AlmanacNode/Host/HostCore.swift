import AlmanacAnswersAhead
import AlmanacRaft
import AlmanacStorage
import AlmanacWire
import Dispatch
import Logging
import NIOCore

/// The multi-Raft driver. Everything here runs on the host's own event loop (never the network's):
/// ticks, stepping inbound messages, the Ready loop, apply and the waiters of proposals and reads.
///
/// Ready loop: one round takes the `Ready` of every group that has one, sends their `messages` at
/// once (one transport call per peer, so the transport coalesces the heartbeats of all groups), and
/// writes all their entries / hard states / snapshots as ONE group-commit batch (one fdatasync on the
/// storage's writer thread). Committed entries are applied (and their proposers answered) at once:
/// they are durable on a majority, because the leader counts its own copy only after `advance`.
/// When the batch is durable the round sends `messagesAfterPersist`, serves reads and calls
/// `advance`. Up to `maxBatchesInFlight` batches are in flight: a new round does not wait for the
/// previous sync (new entries are replicated and newly committed ones applied meanwhile); rounds
/// are finished strictly in the order they were taken, as the Ready contract requires. Those rules
/// (``ReadyRounds``, ``HardStateWrites``) are shared with the deterministic simulator.
final class HostCore<Machine: ReplicatedStateMachine> {
    let loop: any EventLoop
    let configuration: HostConfiguration
    let logger: Logger
    let log: GroupCommitLog
    let snapshotStore: SnapshotStore
    var groups: [UInt64: GroupReplica<Machine>]
    var transport: PeerTransport?
    var liveness: [NodeID: NodeLiveness] = [:]

    private var outbound: [NodeID: [PeerEnvelope]] = [:]
    /// Rounds taken and not finished yet, finished in order (``ReadyRounds``: the simulator drives
    /// its replicas by the same rules).
    private var rounds: ReadyRounds<[Work]>
    private var readyScheduled = false
    private var nextRequestID: UInt64 = 1
    /// Ticks since the host started (the ReadIndex batcher's clock).
    private var ticks: UInt64 = 0
    private var tickTask: Scheduled<Void>?
    private(set) var stoppedReason: String?
    private(set) var quiescedTicksSkipped: UInt64 = 0
    private(set) var batches: UInt64 = 0
    /// Batches written and synced on the host loop itself (``HostConfiguration/inlineSyncMaxEntries``).
    private(set) var inlineSyncs: UInt64 = 0
    /// The most entries the groups this node leads held uncommitted at once, during the current
    /// and the previous tick (``HostConfiguration/inlineSyncMaxLeaderBacklog``).
    private var leaderBacklogPeak = TickPeak()
    /// The same without speculative proposals, plus waiting reads (published to `requestBacklog`).
    private var requestBacklogPeak = TickPeak()
    let requestBacklog: RequestBacklogGauge
    /// Whether anything was ever proposed speculatively here: until then no round looks for
    /// speculative waiters (prefetching is off by default).
    private var proposedSpeculatively = false
    /// Work off the loop that reports back to it (stopping waits for it).
    let background: BackgroundWork
    var answersAheadCounters = AnswersAheadCounters()
    private(set) var snapshotsInstalled: UInt64 = 0
    var snapshotsSent: UInt64 = 0
    var snapshotChunksSent: UInt64 = 0
    /// Snapshot transfers in progress from this node's leaders, by group and receiver.
    var snapshotSends: [SnapshotSendKey: SnapshotSend] = [:]
    /// Reads of snapshot chunks to send, and writes of snapshot files to send, run here, off the loop.
    let snapshotFileQueue = DispatchQueue(label: "almanac-snapshot-file", qos: .utility)
    private var snapshotsSincePurge = 0
    /// The earliest deadline of any proposal or read (or later: it is only lowered when waiters come).
    private var nextDeadline = NIODeadline.distantFuture
    private var purgeRunning = false
    /// Completed once, when the host stops: with the reason if its storage failed, nil otherwise.
    let stopped: EventLoopPromise<String?>
    private var stoppedCompleted = false

    init(loop: any EventLoop, configuration: HostConfiguration, logger: Logger, log: GroupCommitLog,
         snapshotStore: SnapshotStore, groups: [UInt64: GroupReplica<Machine>], stopped: EventLoopPromise<String?>,
         requestBacklog: RequestBacklogGauge, background: BackgroundWork) {
        self.stopped = stopped
        self.requestBacklog = requestBacklog
        self.background = background
        self.loop = loop
        self.configuration = configuration
        self.logger = logger
        self.log = log
        self.snapshotStore = snapshotStore
        self.groups = groups
        self.rounds = ReadyRounds(maxInFlight: configuration.maxBatchesInFlight)
    }

    var nodeID: NodeID { configuration.nodeID }

    // MARK: Lifecycle

    func startTicking() {
        scheduleTick()
        scheduleReady()
    }

    private func scheduleTick() {
        tickTask = loop.assumeIsolated().scheduleTask(in: configuration.tickInterval) { [self] in
            tick()
            if stoppedReason == nil { scheduleTick() }
        }
    }

    func stop(reason: String, storageFailed: Bool = false) {
        if !stoppedCompleted {
            stoppedCompleted = true
            stopped.succeed(storageFailed ? reason : nil)
        }
        guard stoppedReason == nil else { return }
        stoppedReason = reason
        tickTask?.cancel()
        tickTask = nil
        for group in groups.values { failAll(group, .stopped(reason)) }
    }

    func failAll(_ group: GroupReplica<Machine>, _ error: HostError) {
        let proposals = group.proposals.values
        group.proposals.removeAll()
        for waiter in proposals { waiter.promise.fail(error) }
        failHeldSpeculative(of: group, error)
        let reads = group.reads.values
        group.reads.removeAll()
        group.readBatcher.reset()
        for read in reads { read.fail(error) }
    }

    /// Fails the group's held speculative proposals (nothing of them entered the log).
    func failHeldSpeculative(of group: GroupReplica<Machine>, _ error: HostError) {
        let held = group.heldSpeculative
        group.heldSpeculative.removeAll()
        for proposal in held { proposal.promise.fail(error) }
    }

    // MARK: Ticks and quiescence

    private func tick() {
        guard stoppedReason == nil else { return }
        ticks += 1
        leaderBacklogPeak.advance()
        requestBacklogPeak.advance()
        requestBacklog.publish(requestBacklogPeak.value)
        expireWaiters(now: .now())
        if !snapshotSends.isEmpty { checkSnapshotSends(now: .now()) }
        for group in groups.values {
            // Held speculative entries go out with this tick's round (waking a quiesced leader).
            if group.role == .leader { releaseHeldSpeculative(of: group) }
            if group.quiesced {
                quiescedTicksSkipped += 1
                if group.role != .leader
                    && QuiescePolicy.followerMustWake(leader: group.leader, leaderLiveness: liveness[group.leader]) {
                    logger.info("waking quiesced group: its leader's node is not alive",
                                metadata: ["group": "\(group.id)", "leader": "\(group.leader)"])
                    wake(group, forgetLeader: true)
                }
                continue
            }
            group.raft.tick()
            if group.role == .leader,
               group.readBatcher.retryIfStale(now: ticks, retryTicks: UInt64(max(1, configuration.electionTicks))) {
                startReadRound(group)
            }
            if group.role == .leader {
                let idle = QuiescePolicy.leaderIsIdle(
                    status: group.raft.status, hostApplied: group.applied, pendingRequests: group.pendingRequests,
                    isDown: { [liveness] in liveness[$0] == .down })
                group.idleTicks = idle ? group.idleTicks + 1 : 0
                if group.idleTicks >= configuration.quiesceAfterTicks && !group.raft.hasReady { quiesce(group) }
            }
        }
        scheduleReady()
    }

    /// The leader stops ticking and tells its followers to do the same with a marked heartbeat.
    private func quiesce(_ group: GroupReplica<Machine>) {
        let status = group.raft.status
        for voter in status.confState.voters + status.confState.learners where voter != nodeID {
            guard let progress = status.progress[voter], progress.match == status.lastIndex else { continue }
            let heartbeat = Message(type: .heartbeat, from: nodeID, to: voter, term: status.term,
                                    commit: status.commit, context: QuiescePolicy.quiesceContext)
            outbound[voter, default: []].append(PeerEnvelope(groupID: group.id, message: heartbeat))
        }
        group.quiesced = true
        group.idleTicks = 0
        logger.debug("group quiesced", metadata: ["group": "\(group.id)", "index": "\(status.lastIndex)"])
    }

    func wake(_ group: GroupReplica<Machine>, forgetLeader: Bool = false) {
        if group.quiesced {
            group.quiesced = false
            logger.debug("group woke", metadata: ["group": "\(group.id)"])
        }
        group.idleTicks = 0
        if forgetLeader && group.role != .leader { group.raft.forgetLeader() }
    }

    // MARK: Inbound

    func receive(from peer: NodeID, _ envelopes: [PeerEnvelope]) {
        guard stoppedReason == nil else { return }
        for envelope in envelopes {
            guard let group = groups[envelope.groupID] else {
                logger.debug("message for a group not hosted here", metadata: ["group": "\(envelope.groupID)", "from": "\(peer)"])
                continue
            }
            var message = envelope.message
            if message.type == .installSnapshot, let ack = SnapshotChunkAck(message.context) {
                snapshotAcknowledged(ack, from: peer, message: message, in: group)
                continue
            }
            if message.type == .installSnapshot, let chunk = SnapshotChunkContext(message.context) {
                if group.quiesced { wake(group) }
                guard let complete = receiveChunk(message, chunk, in: group) else { continue }
                message = complete
            }
            let quiesceHeartbeat = message.type == .heartbeat && message.context == QuiescePolicy.quiesceContext
            if quiesceHeartbeat { message.context = [] }
            if group.quiesced && QuiescePolicy.wakes(envelope.message) { wake(group) }
            group.raft.step(message)
            if quiesceHeartbeat {
                let status = group.raft.status
                if status.role == .follower && status.leader == message.from && status.term == message.term
                    && status.commit == message.commit && status.lastIndex == message.commit {
                    group.quiesced = true
                    group.idleTicks = 0
                }
            }
        }
        scheduleReady()
    }

    /// Messages to `peer` were dropped. Raft retries on its own (probing again); the group is not
    /// woken, so groups with a down follower can still quiesce.
    func unreachable(_ peer: NodeID, groups ids: Set<UInt64>) {
        for id in ids {
            groups[id]?.raft.reportUnreachable(peer)
        }
        scheduleReady()
    }

    func healthChanged(_ event: HealthEvent) {
        guard case .node(let node, _, _, let to, _) = event else { return }
        liveness[node] = to
        guard to == .suspect || to == .down else { return }
        for group in groups.values where group.quiesced && group.role != .leader && group.leader == node {
            logger.info("waking quiesced group: leader's node \(to)", metadata: ["group": "\(group.id)", "leader": "\(node)"])
            wake(group, forgetLeader: true)
        }
    }

    // MARK: Deadlines

    /// Called for every new waiter; the tick sweeps only once the earliest deadline has passed.
    private func noteDeadline(_ deadline: NIODeadline) {
        if deadline < nextDeadline { nextDeadline = deadline }
    }

    /// Fails the proposals and reads whose deadline has passed (one sweep per tick at most, instead
    /// of one scheduled timer per request).
    private func expireWaiters(now: NIODeadline) {
        guard now >= nextDeadline else { return }
        var earliest = NIODeadline.distantFuture
        for group in groups.values {
            for (index, waiter) in group.proposals {
                if waiter.deadline <= now {
                    group.proposals.removeValue(forKey: index)
                    waiter.promise.fail(HostError.timeout(
                        "entry \(index) of group \(group.id) not applied within \(waiter.timeout.nanoseconds / 1_000_000) ms"))
                } else if waiter.deadline < earliest {
                    earliest = waiter.deadline
                }
            }
            for (id, read) in group.reads {
                if read.deadline <= now {
                    group.reads.removeValue(forKey: id)
                    read.fail(HostError.timeout(
                        "read index of group \(group.id) not confirmed within \(read.timeout.nanoseconds / 1_000_000) ms"))
                } else if read.deadline < earliest {
                    earliest = read.deadline
                }
            }
        }
        nextDeadline = earliest
    }

    // MARK: Requests

    private func takeRequestID() -> UInt64 {
        defer { nextRequestID += 1 }
        return nextRequestID
    }

    /// Speculative proposals ride: a potential journal entry is not proposed on its own (a
    /// replication round, fsyncs on a majority, acknowledgements, for one entry nobody waits on),
    /// but held until the group's next proposal, which it precedes in the log, or until the next
    /// tick, whichever comes first; at most this many are held per group.
    static var maxHeldSpeculative: Int { 64 }

    func propose(group id: UInt64, data: [UInt8], timeout: TimeAmount, speculative: Bool = false,
                 promise: EventLoopPromise<AppliedResult<Machine.ApplyResult>>) {
        if let stoppedReason { return promise.fail(HostError.stopped(stoppedReason)) }
        guard let group = groups[id] else { return promise.fail(HostError.unknownGroup(id)) }
        guard group.role == .leader else { return promise.fail(HostError.notLeader(group: id, leader: group.leader)) }
        if speculative {
            group.heldSpeculative.append(HeldProposal(data: data, timeout: timeout, promise: promise))
            if group.heldSpeculative.count >= Self.maxHeldSpeculative { releaseHeldSpeculative(of: group) }
            return
        }
        releaseHeldSpeculative(of: group)
        append(data, to: group, timeout: timeout, speculative: false, promise: promise)
    }

    /// Proposes the group's held speculative entries (oldest first), ahead of whatever enters the
    /// log next; the round they ride is the caller's (or the tick's).
    func releaseHeldSpeculative(of group: GroupReplica<Machine>) {
        guard !group.heldSpeculative.isEmpty else { return }
        let held = group.heldSpeculative
        group.heldSpeculative.removeAll()
        for proposal in held { append(proposal.data, to: group, timeout: proposal.timeout, speculative: true, promise: proposal.promise) }
    }

    private func append(_ data: [UInt8], to group: GroupReplica<Machine>, timeout: TimeAmount, speculative: Bool,
                        promise: EventLoopPromise<AppliedResult<Machine.ApplyResult>>) {
        guard let index = enterIntoLog(data, of: group, failing: promise) else { return }
        group.ahead.proposed(data, at: index)
        let term = group.raft.currentTerm
        if let replaced = group.proposals[index] {
            // An earlier proposal at this index (an older term) was overwritten without being applied.
            replaced.promise.fail(HostError.unavailable("entry \(index) was replaced by a new leader; nothing was applied"))
        }
        let deadline = NIODeadline.now() + timeout
        proposedSpeculatively = proposedSpeculatively || speculative
        group.proposals[index] = ProposalWaiter(term: term, promise: promise, deadline: deadline, timeout: timeout,
                                                speculative: speculative)
        noteDeadline(deadline)
        scheduleReady()
    }

    /// Proposes `data` to the group's Raft log (this node leads it) and returns its index; nil, with
    /// `promise` failed, when Raft refuses it.
    func enterIntoLog(_ data: [UInt8], of group: GroupReplica<Machine>,
                      failing promise: EventLoopPromise<AppliedResult<Machine.ApplyResult>>) -> LogIndex? {
        wake(group)
        do throws(RaftError) {
            return try group.raft.propose(data)
        } catch {
            promise.fail(Self.hostError(error, group: group.id))
            return nil
        }
    }

    func read<Value: Sendable>(group id: UInt64, linearizable: Bool, timeout: TimeAmount,
                               body: @escaping @Sendable (Machine) -> Value,
                               promise: EventLoopPromise<ReadResult<Value>>) {
        if let stoppedReason { return promise.fail(HostError.stopped(stoppedReason)) }
        guard let group = groups[id] else { return promise.fail(HostError.unknownGroup(id)) }
        guard linearizable else {
            return promise.succeed(ReadResult(value: body(group.machine), appliedIndex: group.applied))
        }
        guard group.role == .leader else { return promise.fail(HostError.notLeader(group: id, leader: group.leader)) }
        wake(group)
        let requestID = takeRequestID()
        let deadline = NIODeadline.now() + timeout
        group.reads[requestID] = ReadWaiter(
            index: nil,
            serve: { machine, applied in promise.succeed(ReadResult(value: body(machine), appliedIndex: applied)) },
            fail: { promise.fail($0) }, deadline: deadline, timeout: timeout)
        noteDeadline(deadline)
        if configuration.batchReadIndex {
            // Joins the next ReadIndex round (see ReadIndexBatcher); starts it if none is in flight.
            if group.readBatcher.add(requestID) { startReadRound(group) }
        } else {
            // One ReadIndex round per read (the behaviour before batching; for measurements).
            do throws(RaftError) {
                try group.raft.readIndex(context: Self.context(requestID))
            } catch {
                group.reads.removeValue(forKey: requestID)
                return promise.fail(Self.hostError(error, group: id))
            }
        }
        scheduleReady()
    }

    /// Starts a ReadIndex round for every read queued in `group` (one heartbeat round for all).
    private func startReadRound(_ group: GroupReplica<Machine>) {
        let roundID = takeRequestID()
        guard let reads = group.readBatcher.start(id: roundID, tick: ticks), !reads.isEmpty else {
            _ = group.readBatcher.abandon(id: roundID)
            return
        }
        do throws(RaftError) {
            try group.raft.readIndex(context: Self.context(roundID))
        } catch {
            _ = group.readBatcher.abandon(id: roundID)
            let failure = Self.hostError(error, group: group.id)
            for id in reads { group.reads.removeValue(forKey: id)?.fail(failure) }
        }
    }

    static func context(_ id: UInt64) -> [UInt8] { withUnsafeBytes(of: id.littleEndian) { Array($0) } }

    static func requestID(fromContext context: [UInt8]) -> UInt64? {
        guard context.count == 8 else { return nil }
        return context.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    static func hostError(_ error: RaftError, group: UInt64) -> HostError {
        switch error {
        case .notLeader(let leader): .notLeader(group: group, leader: leader)
        case .entryTooLarge(let size, let limit): .tooLarge("entry of \(size) bytes exceeds \(limit)")
        case .transferInProgress(let to): .unavailable("leadership transfer to node \(to) in progress")
        case .uncommittedSizeExceeded(let limit): .unavailable("more than \(limit) bytes uncommitted; retry later")
        default: .unavailable("\(error)")
        }
    }

    // MARK: Ready loop

    func scheduleReady() {
        guard !readyScheduled else { return }
        readyScheduled = true
        loop.assumeIsolated().execute { [self] in
            readyScheduled = false
            runReady()
        }
    }

    private struct Work {
        var group: GroupReplica<Machine>
        var ready: Ready?
        /// A checkpoint recorded by this round's write: Raft compacts once it is durable.
        var checkpoint: Snapshot?
    }

    /// One Ready round: its work, and whether its write (if any) is durable.

    private func runReady() {
        guard stoppedReason == nil, rounds.canTake else {
            flushOutbound()
            return
        }
        var work: [Work] = []
        var writes: [GroupWrite] = []
        var leadsAGroup = false  // after this round's role changes (the inline sync below)
        var leaderBacklog = 0  // entries the groups it leads hold uncommitted
        var speculativeBacklog = 0  // of those, potential entries proposed ahead of any request
        var readsWaiting = 0
        for id in groups.keys.sorted() {
            guard let group = groups[id] else { continue }
            if group.role == .leader {
                let commitIndex = group.raft.commitIndex
                leaderBacklog += Int(group.raft.lastIndex - min(group.raft.lastIndex, commitIndex))
                if proposedSpeculatively {
                    for (index, waiter) in group.proposals where waiter.speculative && index > commitIndex { speculativeBacklog += 1 }
                }
                readsWaiting += group.reads.count
            }
            defer { leadsAGroup = leadsAGroup || group.role == .leader }
            let hasReady = group.raft.hasReady
            guard hasReady || group.pendingCheckpoint != nil else { continue }
            var write = GroupWrite(group: id)
            var ready: Ready?
            if hasReady {
                let rd = group.raft.ready()
                ready = rd
                if let soft = rd.softState { roleChanged(group, soft) }
                for message in rd.messages {
                    if message.type == .installSnapshot { enqueueSnapshot(message, of: group) } else { enqueue(group.id, message) }
                }
                if let snapshot = rd.snapshot {
                    do throws(StorageError) {
                        let key = SnapshotKey(index: snapshot.metadata.index, term: snapshot.metadata.term)
                        if let received = group.receivedSnapshot, received.index == key.index, received.term == key.term {
                            write.installSnapshot = received
                        } else if snapshot.data.isEmpty {
                            // Only received files are stepped without their bytes; this one is gone.
                            throw StorageError.corruptFile(file: "snapshot \(key.index)/\(key.term) of group \(id)",
                                                           reason: "stepped without its bytes and not on file")
                        } else {
                            write.installSnapshot = try snapshotStore.write(group: id, snapshot: snapshot)
                        }
                        group.receivedSnapshot = nil
                        group.snapshotFiles = [key: write.installSnapshot].compactMapValues { $0 }
                    } catch {
                        fail(storage: error)
                        return
                    }
                }
                write.entries = rd.entries
                // A hard state whose only change is the commit index waits for the next entries.
                write.hardState = group.hardStates.toWrite(for: rd)
                // Committed entries are already durable on a majority, so applying them (and
                // answering their proposers) need not wait for this node's own sync; only
                // `messagesAfterPersist` must. A snapshot from the leader is installed first.
                if let snapshot = rd.snapshot {
                    install(snapshot, in: group)
                    guard stoppedReason == nil else { return }
                }
                for entry in rd.committedEntries { apply(entry, in: group) }
            }
            var checkpointSnapshot: Snapshot?
            if let checkpoint = group.pendingCheckpoint, write.installSnapshot == nil {
                write.checkpoint = checkpoint.reference
                write.compactThrough = checkpoint.snapshot.metadata.index
                group.checkpointInFlight = checkpoint.snapshot
                checkpointSnapshot = checkpoint.snapshot
                group.pendingCheckpoint = nil
            }
            if write.installSnapshot != nil || write.checkpoint != nil || !write.entries.isEmpty || write.hardState != nil {
                writes.append(write)
            }
            work.append(Work(group: group, ready: ready, checkpoint: checkpointSnapshot))
        }
        if requestBacklogPeak.note(max(0, leaderBacklog - speculativeBacklog) + readsWaiting) {
            requestBacklog.publish(requestBacklogPeak.value)
        }
        flushOutbound()
        guard !work.isEmpty else { return }
        if writes.isEmpty {
            // Nothing to persist; still finished only after the rounds before it.
            for finished in rounds.startWithoutWrite(work) { finish(finished) }
            return
        }
        let batch = WriteBatch(writes)
        // A lone small write is synced right here (see `inlineSyncMaxEntries`) unless the groups this
        // node leads were busy lately: a busy leader's loop must stay free to take requests and its
        // followers' acks, apply and answer while any sync runs, whichever group's round it is.
        leaderBacklogPeak.note(leaderBacklog)
        if rounds.isEmpty, batch.entryCount <= configuration.inlineSyncMaxEntries,
           !leadsAGroup || (configuration.inlineSyncMaxLeaderBacklog >= 0
                            && leaderBacklogPeak.value <= configuration.inlineSyncMaxLeaderBacklog),
           let outcome = log.writeNowIfIdle(batch) {
            batches += 1
            inlineSyncs += 1
            switch outcome {
            case .success: finish(work)
            case .failure(let error): fail(storage: error)
            }
            return
        }
        batches += 1
        let round = rounds.start(work)
        let loop = self.loop
        let box = NIOLoopBound(self, eventLoop: loop)
        log.append(batch) { result in
            loop.execute {
                let core = box.value
                switch result {
                case .success: core.roundDurable(round)
                case .failure(let error): core.fail(storage: error)
                }
            }
        }
    }

    /// The write of round `id` is durable: finish every round at the head that is now complete.
    private func roundDurable(_ id: UInt64) {
        guard stoppedReason == nil else { return }
        for work in rounds.persisted(id) { finish(work) }
        if groups.values.contains(where: { $0.raft.hasReady || $0.pendingCheckpoint != nil }) { scheduleReady() }
    }

    /// The log cannot be trusted any more: stop the groups, and (through `stopped`, see
    /// `MultiRaftHost`) stop talking to peers, so that they stop hearing from this node and elect
    /// new leaders for the groups it led, quiesced ones included.
    func fail(storage error: StorageError) {
        guard stoppedReason == nil else { return }
        logger.critical("storage failed; the node stops serving (no more Raft, peer or client traffic)", metadata: ["error": "\(error)"])
        stop(reason: "storage failed: \(error)", storageFailed: true)
    }

    /// The batch is durable: send what had to wait for it, serve reads, advance.
    private func finish(_ work: [Work]) {
        for item in work {
            let group = item.group
            if let snapshot = item.checkpoint {
                group.checkpointInFlight = nil
                do throws(RaftError) {
                    try group.raft.compact(snapshot: snapshot)
                } catch {
                    logger.debug("compaction skipped", metadata: ["group": "\(group.id)", "reason": "\(error)"])
                }
                maybePurge()
            }
            guard let rd = item.ready else { continue }
            for message in rd.messagesAfterPersist { enqueue(group.id, message) }
            for state in rd.readStates {
                guard let id = Self.requestID(fromContext: state.context) else { continue }
                // A read also waits for every write answered ahead of commit before it.
                let index = max(state.index, group.ahead.answeredThrough)
                if let reads = group.readBatcher.confirmed(id: id) {
                    for read in reads { group.reads[read]?.index = index }
                } else {
                    group.reads[id]?.index = index  // an unbatched read (batchReadIndex off)
                }
            }
            group.raft.advance(rd)
            group.ahead.dropIfCaughtUp(applied: group.applied)
            serveReads(group)
            if group.role == .leader, group.readBatcher.needsRound { startReadRound(group) }
            maybeCheckpoint(group)
        }
        flushOutbound()
        if groups.values.contains(where: { $0.raft.hasReady || $0.pendingCheckpoint != nil }) { scheduleReady() }
    }

    private func roleChanged(_ group: GroupReplica<Machine>, _ soft: SoftState) {
        let wasLeader = group.role == .leader
        group.role = soft.role
        group.leader = soft.leader
        logger.info("group role changed", metadata: [
            "group": "\(group.id)", "role": "\(soft.role)", "leader": "\(soft.leader)"])
        if !wasLeader && soft.role == .leader { group.leadingSince = .now() }
        if wasLeader && soft.role != .leader {
            group.leadingSince = nil
            dropSnapshotSends(of: group.id)
            group.ahead.leadershipLost()
            failHeldSpeculative(of: group, .notLeader(group: group.id, leader: soft.leader))
            // Reads waiting on this replica's leadership can no longer be confirmed here. Proposals
            // stay: their entries may still commit under the new leader and be applied here.
            let reads = group.reads.values
            group.reads.removeAll()
            group.readBatcher.reset()
            for read in reads { read.fail(.notLeader(group: group.id, leader: soft.leader)) }
        }
        if soft.role != .leader { group.idleTicks = 0 }
    }

    private func install(_ snapshot: Snapshot, in group: GroupReplica<Machine>) {
        do {
            let key = SnapshotKey(index: snapshot.metadata.index, term: snapshot.metadata.term)
            if let prepared = group.restoredSnapshot, prepared.key == key {
                group.machine = prepared.machine  // decoded off the loop when it arrived
            } else if snapshot.data.isEmpty, let file = group.snapshotFiles[key] {
                // A received snapshot is stepped into Raft without its bytes; read them back.
                group.machine = try Machine.restore(group: group.id, from: try snapshotStore.read(file).data)
            } else {
                group.machine = try Machine.restore(group: group.id, from: snapshot.data)
            }
            group.restoredSnapshot = nil
        } catch {
            logger.critical("a snapshot from the leader cannot be restored", metadata: [
                "group": "\(group.id)", "index": "\(snapshot.metadata.index)", "error": "\(error)"])
            stop(reason: "snapshot of group \(group.id) at \(snapshot.metadata.index) cannot be restored: \(error)")
            return
        }
        group.applied = snapshot.metadata.index
        group.appliedTerm = snapshot.metadata.term
        group.snapshotIndex = snapshot.metadata.index
        // A checkpoint written before this snapshot arrived but not yet recorded is older than it:
        // recording it would point the WAL back before the installed snapshot, which the storage
        // refuses (found by bench/chaos.sh: a restarted follower took a checkpoint at 1006 while
        // installing the leader's snapshot at 1052, then failed its storage). Drop it; the purge
        // deletes its file.
        if let pending = group.pendingCheckpoint, pending.snapshot.metadata.index <= snapshot.metadata.index {
            group.pendingCheckpoint = nil
        }
        snapshotsInstalled += 1
        group.snapshotsInstalled += 1
        installedUnderAnswersAhead(snapshot.metadata.index, in: group)
        configuration.observer.applied?(group.id, snapshot.metadata.index)
        logger.info("installed snapshot", metadata: ["group": "\(group.id)", "index": "\(snapshot.metadata.index)"])
        for (index, waiter) in group.proposals where index <= snapshot.metadata.index {
            group.proposals.removeValue(forKey: index)
            waiter.promise.fail(HostError.timeout("entry \(index) was covered by a snapshot; its outcome is unknown here"))
        }
    }

    private func apply(_ entry: Entry, in group: GroupReplica<Machine>) {
        guard entry.index > group.applied else { return }
        group.applied = entry.index
        group.appliedTerm = entry.term
        let waiter = group.proposals.removeValue(forKey: entry.index)
        if group.ahead.isTracking { appliedAhead(entry, in: group) }
        guard entry.type == .normal, !entry.data.isEmpty else {
            waiter?.promise.fail(HostError.unavailable("entry \(entry.index) was replaced by a new leader; nothing was applied"))
            return
        }
        let result = group.machine.apply(entry.data, at: entry.index)
        configuration.observer.applied?(group.id, entry.index)
        guard let waiter else { return }
        if let committed = configuration.observer.committed {
            committed(group.id, UInt64(max(0, (NIODeadline.now() - (waiter.deadline - waiter.timeout)).nanoseconds)))
        }
        if waiter.term == entry.term {
            waiter.promise.succeed(AppliedResult(result: result, index: entry.index, term: entry.term))
        } else {
            waiter.promise.fail(HostError.unavailable("entry \(entry.index) was replaced by a new leader; retry"))
        }
    }

    private func serveReads(_ group: GroupReplica<Machine>) {
        guard !group.reads.isEmpty else { return }
        for (id, read) in group.reads {
            guard let index = read.index, index <= group.applied else { continue }
            group.reads.removeValue(forKey: id)
            read.serve(group.machine, group.applied)
        }
    }

    // MARK: Snapshots and compaction

    /// How far past the usual interval a checkpoint waits for a follower installing a snapshot.
    static var checkpointDeferralFactor: Int { 4 }

    /// Whether a checkpoint at `index` waits: this node leads `group` and a follower catches up
    /// from its current snapshot, which needs the log after it; at most `checkpointDeferralFactor`
    /// times the usual interval past the current snapshot (memory stays bounded whatever the
    /// transfer does).
    private func checkpointWaits(_ group: GroupReplica<Machine>, at index: LogIndex) -> Bool {
        group.role == .leader
            && index < group.snapshotIndex + configuration.snapshotEveryEntries * UInt64(Self.checkpointDeferralFactor)
            && followerCatchingUpFromSnapshot(of: group, now: .now())
    }

    /// Starts a checkpoint when enough entries were applied since the last one. The state machine
    /// is a value: the loop keeps a copy (copy-on-write) and a background queue encodes it and
    /// writes the file; the loop only records the result (see ``checkpointWritten``).
    private func maybeCheckpoint(_ group: GroupReplica<Machine>) {
        guard !group.checkpointEncoding, group.pendingCheckpoint == nil, group.checkpointInFlight == nil,
              group.applied >= group.snapshotIndex + configuration.snapshotEveryEntries,
              !checkpointWaits(group, at: group.applied) else { return }
        let metadata = SnapshotMetadata(index: group.applied, term: group.appliedTerm, confState: group.raft.status.confState)
        let machine = group.machine
        let store = snapshotStore
        let id = group.id
        let loop = self.loop
        let box = NIOLoopBound(self, eventLoop: loop)
        group.checkpointEncoding = true
        let background = self.background
        background.begin()
        LowPriorityThread.run(name: "almanac-snapshot") {
            defer { background.end() }
            let snapshot = Snapshot(metadata: metadata, data: machine.snapshotData())
            let outcome: Result<SnapshotReference, StorageError>
            do throws(StorageError) {
                outcome = .success(try store.write(group: id, snapshot: snapshot))
            } catch {
                outcome = .failure(error)
            }
            loop.execute { box.value.checkpointWritten(group: id, snapshot: snapshot, outcome: outcome) }
        }
    }

    /// A background checkpoint is on disk (or failed): the next Ready round records it in the WAL,
    /// and Raft compacts once that record is durable. A checkpoint overtaken by an installed
    /// snapshot is dropped (the purge deletes its file).
    private func checkpointWritten(group id: UInt64, snapshot: Snapshot, outcome: Result<SnapshotReference, StorageError>) {
        guard let group = groups[id] else { return }
        group.checkpointEncoding = false
        guard stoppedReason == nil else { return }
        let metadata = snapshot.metadata
        switch outcome {
        case .success(let reference):
            guard metadata.index > group.snapshotIndex else {
                logger.info("checkpoint overtaken by an installed snapshot; dropped", metadata: [
                    "group": "\(id)", "index": "\(metadata.index)", "installed": "\(group.snapshotIndex)"])
                return
            }
            // Begun before a follower started catching up from the current snapshot: recording it
            // would compact the log that follower needs next (``checkpointWaits(_:at:)``). Dropped
            // like an overtaken one; the next checkpoint comes once the follower caught up.
            if checkpointWaits(group, at: metadata.index) {
                logger.info("checkpoint dropped: a follower is catching up from the current snapshot", metadata: [
                    "group": "\(id)", "index": "\(metadata.index)", "current": "\(group.snapshotIndex)"])
                return
            }
            // From here on only the file holds the state's bytes: Raft and the WAL record keep the
            // metadata (holding the bytes in Raft's log kept a second copy of the state in memory).
            group.pendingCheckpoint = (Snapshot(metadata: metadata, data: []), reference)
            group.snapshotFiles = [SnapshotKey(index: metadata.index, term: metadata.term): reference]
            group.snapshotIndex = metadata.index
            logger.info("snapshot taken", metadata: [
                "group": "\(id)", "index": "\(metadata.index)", "bytes": "\(snapshot.data.count)"])
            scheduleReady()
        case .failure(let error):
            logger.error("snapshot could not be written; compaction postponed",
                         metadata: ["group": "\(id)", "error": "\(error)"])
            group.snapshotIndex = max(group.snapshotIndex, metadata.index)
        }
    }

    /// Purges WAL segments and superseded snapshot files off the event loop, every few snapshots.
    private func maybePurge() {
        snapshotsSincePurge += 1
        guard snapshotsSincePurge >= configuration.purgeEverySnapshots, !purgeRunning else { return }
        snapshotsSincePurge = 0
        purgeRunning = true
        let log = self.log
        let logger = self.logger
        let loop = self.loop
        let box = NIOLoopBound(self, eventLoop: loop)
        let background = self.background
        background.begin()
        DispatchQueue.global(qos: .utility).async {
            defer { background.end() }
            do throws(StorageError) {
                // The engine is held only inside each step: commits go on through the purge's syncs.
                let report = try log.purge()
                logger.info("WAL purged", metadata: [
                    "deletedSegments": "\(report.deletedSegments.count)", "rewrittenSegments": "\(report.rewrittenSegments.count)",
                    "deletedSnapshots": "\(report.deletedSnapshots.count)"])
            } catch {
                logger.error("WAL purge failed", metadata: ["error": "\(error)"])
            }
            loop.execute { box.value.purgeRunning = false }
        }
    }

    // MARK: Snapshot transfer in chunks

    /// Adds one chunk to the snapshot being received and acknowledges it; returns the original
    /// message (with the whole snapshot) once the file is complete and verified. A chunk that
    /// continues the transfer in progress of the same snapshot is appended (a resent one already
    /// held is ignored); one at offset 0 starts a transfer; anything else is refused with a rewind
    /// to what is held.
    private func receiveChunk(_ message: Message, _ context: SnapshotChunkContext, in group: GroupReplica<Machine>) -> Message? {
        guard let part = message.snapshot else { return nil }
        let chunk = SnapshotChunk(group: group.id, index: part.metadata.index, term: part.metadata.term,
                                  offset: context.offset, totalSize: context.totalSize, bytes: part.data)
        func acknowledge(_ received: UInt64, rewind: Bool) {
            var ack = Message(type: .installSnapshot, from: nodeID, to: message.from, term: message.term,
                              logTerm: chunk.term, index: chunk.index)
            ack.context = SnapshotChunkAck(received: received, rewind: rewind).encoded
            enqueue(group.id, ack)
        }
        // A snapshot this replica already has (being prepared, installed, or older than its own):
        // the whole file is acknowledged, nothing is written.
        if group.preparingSnapshot == SnapshotKey(index: chunk.index, term: chunk.term) || chunk.index <= group.snapshotIndex {
            acknowledge(chunk.totalSize, rewind: false)
            return nil
        }
        let sameSnapshot = group.incomingSnapshot.map { $0.receiver.index == chunk.index && $0.receiver.term == chunk.term } ?? false
        do throws(StorageError) {
            if context.offset == 0 && !(sameSnapshot && (group.incomingSnapshot?.receiver.received ?? 0) > 0) {
                group.incomingSnapshot = (try snapshotStore.receiver(for: chunk), message)
            } else if !sameSnapshot {
                acknowledge(0, rewind: true)
                return nil
            }
            guard let incoming = group.incomingSnapshot else { return nil }
            if context.offset > incoming.receiver.received {
                acknowledge(incoming.receiver.received, rewind: true)  // a gap: chunks were lost
                return nil
            }
            try incoming.receiver.receive(chunk)
            acknowledge(incoming.receiver.received, rewind: false)
            guard incoming.receiver.isComplete else { return nil }
            group.incomingSnapshot = nil
            // Verifying the file, reading it back and decoding the state take O(snapshot size):
            // off the loop; the whole message is stepped into Raft once they are done.
            prepareReceivedSnapshot(try incoming.receiver.detach(), template: incoming.template, in: group)
            return nil
        } catch {
            // From another leader, or corrupt: drop it; the leader starts over.
            logger.warning("snapshot chunk dropped", metadata: ["group": "\(group.id)", "error": "\(error)"])
            group.incomingSnapshot = nil
            acknowledge(0, rewind: true)
            return nil
        }
    }

    // MARK: Outbound

    func enqueue(_ group: UInt64, _ message: Message) {
        outbound[message.to, default: []].append(PeerEnvelope(groupID: group, message: message))
    }

    /// One transport call per peer: the transport batches them into one frame and coalesces the
    /// heartbeats of all groups between the two nodes.
    private func flushOutbound() {
        guard !outbound.isEmpty else { return }
        let pending = outbound
        outbound = [:]
        guard let transport else { return }
        for (peer, envelopes) in pending where peer != nodeID { transport.send(to: peer, envelopes) }
    }

    // MARK: Status

    /// Copies of the groups' state machines (cheap: copy-on-write), for digests computed off the
    /// loop (``MultiRaftHost/status(digests:)``).
    func stateMachineCopies() -> [UInt64: Machine] {
        groups.mapValues(\.machine)
    }

    /// The host's status; every group's `stateDigest` is 0 (see ``stateMachineCopies()``).
    func status() -> HostStatus {
        HostStatus(
            nodeID: nodeID,
            groups: groups.keys.sorted().compactMap { id in
                guard let group = groups[id] else { return nil }
                return GroupStatus(group: id, raft: group.raft.status, applied: group.applied,
                                   snapshotIndex: group.snapshotIndex, quiesced: group.quiesced,
                                   stateDigest: 0,
                                   snapshotsSent: group.snapshotsSent, snapshotBytesSent: group.snapshotBytesSent.values.reduce(0, +),
                                   snapshotsInstalled: group.snapshotsInstalled, heldSpeculative: group.heldSpeculative.count)
            },
            health: nil, healthNow: 0, quiescedTicksSkipped: quiescedTicksSkipped, batches: batches, inlineSyncs: inlineSyncs,
            snapshotsInstalled: snapshotsInstalled, snapshotsSent: snapshotsSent, snapshotChunksSent: snapshotChunksSent,
            answersAhead: answersAheadCounters,
            stoppedReason: stoppedReason)
    }
}
