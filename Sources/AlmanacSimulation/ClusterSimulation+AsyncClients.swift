import AlmanacAnswersAhead
import AlmanacRaft

/// Async durability in the simulation (docs/simulation.md, "Async durability"): clients whose
/// writes a leader answers ahead of commit, by the rules the node and the client library use
/// (`AlmanacAnswersAhead`), with crashes and partitions timed to every step of a write's life.
extension ClusterSimulation {
    /// A client session's write, as the checkers know it.
    struct SessionSequence: Hashable, Sendable {
        var session: UInt64
        var sequence: UInt64
    }

    /// What the checkers record of one async write.
    struct AsyncWriteRecord: Sendable {
        var historyPosition: Int
        /// The answer ahead of commit: where, and the result.
        var answeredAhead: (index: LogIndex, term: Term, result: UInt64, at: UInt64)?
        /// Answered at its commit instead (completion recorded in the history).
        var answeredAtCommit = false
        /// Released as durable by the client at this entry.
        var released: (index: LogIndex, term: Term)?
        /// Its client crashed before learning it was durable: the documented loss may apply.
        var clientCrashed = false
    }

    mutating func startAsyncClients() {
        for client in 0..<options.asyncClients {
            asyncClients.append(AsyncClient(session: takeSession()))
            queue.push(.asyncClient(client), at: UInt64(2_000 + client * 700))
        }
    }

    mutating func takeSession() -> UInt64 {
        defer { nextSession += 1 }
        return nextSession
    }

    var asyncReplayWindowMicros: UInt64 { UInt64(options.asyncReplayWindowTicks) * options.tickMicros }

    // MARK: - The client's turn

    mutating func asyncClientAction(_ client: Int) {
        if phase == .faults {
            queue.push(.asyncClient(client), at: now + UInt64(workloadRandom.int(in: 1_000...12_000)))
        } else if phase == .liveness {
            queue.push(.asyncClient(client), at: now + 5_000)
        } else {
            return
        }
        if phase == .faults && faultRandom.chance(0.004) { return crashAsyncClient(client) }
        if let waiting = asyncClients[client].waiting {
            // A request stuck at a node that will never apply it: give up and send it again
            // (production's operation timeout; a write or replay is deduplicated by its sequence).
            guard now - waiting.since > 2 * UInt64(options.electionTick) * options.tickMicros else { return }
            dropWait(client, resend: true)
        }
        guard let target = asyncTarget() else { return }
        let request: AsyncClient.Request
        if !asyncClients[client].toSend.isEmpty {
            request = asyncClients[client].toSend.removeFirst()
        } else if phase == .faults && asyncClients[client].unconfirmed.count < AsyncClient.maxUnconfirmed && workloadRandom.chance(0.85) {
            request = .write(newAsyncWrite(client))
        } else if asyncClients[client].unconfirmed.count > 0 {
            request = .confirm
        } else {
            return
        }
        send(request, from: client, to: target)
        driveReady(target)
    }

    /// The node a client sends to: the leader of the highest term mostly, sometimes any node that
    /// believes it leads (a deposed leader that has not heard of its successor), sometimes any node.
    mutating func asyncTarget() -> Int? {
        let up = upSlots
        guard !up.isEmpty else { return nil }
        let roll = workloadRandom.int(in: 0..<100)
        if roll < 80, let leader = leaderSlot() { return leader }
        let leaders = up.filter { replicas[$0].role == .leader }
        if roll < 95, !leaders.isEmpty { return leaders[workloadRandom.int(in: 0..<leaders.count)] }
        return up[workloadRandom.int(in: 0..<up.count)]
    }

    mutating func newAsyncWrite(_ client: Int) -> AsyncClient.Write {
        let opID = nextOperationID
        nextOperationID += 1
        let key = workloadRandom.int(in: 0..<options.keyCount)
        let sequence = asyncClients[client].nextSequence
        asyncClients[client].nextSequence += 1
        history.append(KeyValueOperation(key: key, kind: .write(value: opID), invoked: now, completed: nil))
        let write = AsyncClient.Write(opID: opID, key: key, sequence: sequence, historyPosition: history.count - 1)
        asyncWrites[SessionSequence(session: asyncClients[client].session, sequence: sequence)] =
            AsyncWriteRecord(historyPosition: write.historyPosition)
        return write
    }

    /// Sends `request` to `slot`: a node that does not lead refuses it (the client tries again
    /// later); a leader admits an async write by ``AnswersAhead/admit(now:leadingSince:replayWindow:lastIndex:applied:)``.
    mutating func send(_ request: AsyncClient.Request, from client: Int, to slot: Int) {
        guard replicas[slot].role == .leader, let raft = replicas[slot].raft, let since = replicas[slot].leadingSince else {
            asyncClients[client].toSend.insert(request, at: 0)  // NOT_LEADER: nothing happened
            return
        }
        let session = asyncClients[client].session
        switch request {
        case .confirm:
            proposeAtCommit(request, data: KeyValueCommand(opID: 0, key: UInt8.max).encoded, from: client, at: slot)
        case .replay(let write):
            stats.asyncReplays += 1
            let data = KeyValueCommand(opID: write.opID, key: UInt8(write.key), session: session, sequence: write.sequence).encoded
            proposeAtCommit(request, data: data, from: client, at: slot)
        case .write(let write):
            let data = KeyValueCommand(opID: write.opID, key: UInt8(write.key), session: session, sequence: write.sequence).encoded
            let status = raft.status
            switch replicas[slot].ahead.admit(now: now, leadingSince: since, replayWindow: asyncReplayWindowMicros,
                                              lastIndex: status.lastIndex, applied: replicas[slot].machine.appliedIndex) {
            case .refusedInReplayWindow:
                // The new leader takes replays first: all of this shard's, then this write again.
                stats.asyncRefusedInWindow += 1
                let replays = asyncClients[client].unconfirmed.takeAll(shard: 0).map { AsyncClient.Request.replay($0.write) }
                asyncClients[client].toSend.insert(contentsOf: (options.asyncFault == .noReplay ? [] : replays) + [request], at: 0)
            case .atCommit:
                stats.asyncAnsweredAtCommit += 1
                proposeAtCommit(request, data: data, from: client, at: slot)
            case .ahead:
                answerAhead(write, data: data, from: client, at: slot)
            }
        }
    }

    /// Proposes `data`; the answer comes when the entry is applied at `slot`.
    mutating func proposeAtCommit(_ request: AsyncClient.Request, data: [UInt8], from client: Int, at slot: Int) {
        do throws(RaftError) {
            guard let index = try replicas[slot].raft?.propose(data), let term = replicas[slot].raft?.status.term else { return }
            if options.asyncFault != .stateAheadSkipsOtherProposals { replicas[slot].ahead.proposed(data, at: index) }
            asyncClients[client].waiting = AsyncClient.Waiting(request: request, slot: slot, incarnation: replicas[slot].incarnation,
                                                               index: index, term: term, since: now)
            replicas[slot].asyncWaits[index] = client
        } catch {
            asyncClients[client].toSend.insert(request, at: 0)
        }
    }

    /// Proposes an admitted write and answers it at once from the state ahead.
    mutating func answerAhead(_ write: AsyncClient.Write, data: [UInt8], from client: Int, at slot: Int) {
        let index: LogIndex
        do throws(RaftError) {
            guard let proposed = try replicas[slot].raft?.propose(data) else { return }
            index = proposed
        } catch {
            asyncClients[client].toSend.insert(.write(write), at: 0)
            return
        }
        guard let status = replicas[slot].raft?.status else { return }
        let answer = replicas[slot].ahead.answer(data, at: index, term: status.term, now: now,
                                                 applied: replicas[slot].machine, appliedIndex: replicas[slot].machine.appliedIndex)
        stats.asyncAnsweredAhead += 1
        let session = asyncClients[client].session
        let key = SessionSequence(session: session, sequence: write.sequence)
        asyncWrites[key]?.answeredAhead = (index, status.term, answer?.result ?? 0, now)
        answersAhead[EntryKey(index: index, term: status.term)] = key
        // The response settles older writes first, then the client keeps this one (as the library does).
        let durableIndex = min(status.commit, index)
        settle(client, term: status.term, durableIndex: durableIndex)
        if durableIndex >= index {
            release(client, write, index: index, term: status.term)
        } else {
            asyncClients[client].unconfirmed.keep(write, shard: 0, sequence: write.sequence, index: index, term: status.term)
        }
        injectAsyncFaults(slot, client: client)
    }

    /// A response of `term` reporting the log durable through `durableIndex`.
    mutating func settle(_ client: Int, term: Term, durableIndex: LogIndex) {
        if options.asyncFault == .releaseWhateverTheTerm {
            for pending in asyncClients[client].unconfirmed.takeAll(shard: 0) {
                if pending.index <= durableIndex {
                    release(client, pending.write, index: pending.index, term: pending.term)
                } else {
                    asyncClients[client].unconfirmed.keep(pending.write, shard: 0, sequence: pending.sequence, index: pending.index, term: pending.term)
                }
            }
        }
        let settlement = asyncClients[client].unconfirmed.settle(shard: 0, leaderTerm: term, durableIndex: durableIndex)
        for pending in settlement.durable { release(client, pending.write, index: pending.index, term: pending.term) }
        if options.asyncFault != .noReplay {
            asyncClients[client].toSend.insert(contentsOf: settlement.replay.map { .replay($0.write) }, at: 0)
        }
    }

    mutating func release(_ client: Int, _ write: AsyncClient.Write, index: LogIndex, term: Term) {
        stats.asyncReleased += 1
        asyncWrites[SessionSequence(session: asyncClients[client].session, sequence: write.sequence)]?.released = (index, term)
    }

    /// The entry a client waits on was applied at its node: the answer at commit.
    mutating func answerAtCommit(_ slot: Int, entry: Entry, applied: KeyValueApplied?) {
        guard let client = replicas[slot].asyncWaits.removeValue(forKey: entry.index),
              let waiting = asyncClients[client].waiting, waiting.slot == slot, waiting.index == entry.index,
              waiting.incarnation == replicas[slot].incarnation else { return }
        guard waiting.term == entry.term else {
            dropWait(client, resend: true)  // replaced by another leader's entry: nothing applied, send again
            return
        }
        asyncClients[client].waiting = nil
        let session = asyncClients[client].session
        switch waiting.request {
        case .confirm:
            break
        case .write(let write):
            history[write.historyPosition].completed = now
            asyncWrites[SessionSequence(session: session, sequence: write.sequence)]?.answeredAtCommit = true
            release(client, write, index: entry.index, term: entry.term)
        case .replay(let write):
            let key = SessionSequence(session: session, sequence: write.sequence)
            if let first = asyncWrites[key]?.answeredAhead, let applied, applied.result != first.result { stats.asyncReplaysChanged += 1 }
            // A replay's answer is at commit: the write is durable now.
            asyncWrites[key]?.answeredAtCommit = true
            release(client, write, index: entry.index, term: entry.term)
        }
        settle(client, term: entry.term, durableIndex: entry.index)
    }

    /// The client's request will get no answer from its node (crash, replaced entry, snapshot,
    /// timeout): with `resend`, it is sent again.
    mutating func dropWait(_ client: Int, resend: Bool) {
        guard let waiting = asyncClients[client].waiting else { return }
        asyncClients[client].waiting = nil
        if replicas[waiting.slot].asyncWaits[waiting.index] == client { replicas[waiting.slot].asyncWaits[waiting.index] = nil }
        if resend, waiting.request != .confirm { asyncClients[client].toSend.insert(waiting.request, at: 0) }
    }

    /// Every wait at `slot` (through `index`, if given) ends unanswered.
    mutating func dropWaits(at slot: Int, through index: LogIndex = .max) {
        for (waitIndex, client) in replicas[slot].asyncWaits where waitIndex <= index {
            replicas[slot].asyncWaits[waitIndex] = nil
            if asyncClients[client].waiting?.slot == slot, asyncClients[client].waiting?.index == waitIndex { dropWait(client, resend: true) }
        }
    }

    /// The client's process dies: what it had not released may be lost (the documented loss).
    mutating func crashAsyncClient(_ client: Int) {
        stats.asyncClientCrashes += 1
        let old = asyncClients[client]
        for key in asyncWrites.keys where key.session == old.session && asyncWrites[key]?.released == nil {
            asyncWrites[key]?.clientCrashed = true
        }
        stats.asyncWritesExposedByClientCrash += old.unconfirmed.count
        if let waiting = old.waiting, replicas[waiting.slot].asyncWaits[waiting.index] == client {
            replicas[waiting.slot].asyncWaits[waiting.index] = nil
        }
        asyncClients[client] = AsyncClient(session: takeSession())
        note("async client \(client) crashes with \(old.unconfirmed.count) unconfirmed writes")
    }

    // MARK: - The leader's side

    /// Faults timed to an answer ahead: the leader crashes before its append is on disk, or
    /// around its fsync and commit, or is cut off; or the client dies having released nothing.
    mutating func injectAsyncFaults(_ slot: Int, client: Int) {
        guard phase == .faults, options.injectFaults else { return }
        let roll = faultRandom.int(in: 0..<1_000)
        switch roll {
        case 0..<8: queue.push(.crash(slot: slot, quickRestart: faultRandom.chance(0.5)), at: now)
        case 8..<16: queue.push(.crash(slot: slot, quickRestart: true), at: now + UInt64(faultRandom.int(in: 50...4_000)))
        case 16..<24: queue.push(.crash(slot: slot, quickRestart: false), at: now + UInt64(faultRandom.int(in: 4_000...30_000)))
        case 24..<32: queue.push(.isolate(slot: slot), at: now)
        case 32..<36: crashAsyncClient(client)
        default: break
        }
    }

    /// The node stops leading (crash or step-down): books the step each write it answered ahead
    /// and its client has not released had reached, then forgets the leader-only state.
    mutating func asyncLeadershipEnds(_ slot: Int) {
        let durableLast = replicas[slot].disk.durable.lastIndex
        let commit = replicas[slot].raft?.status.commit ?? replicas[slot].commit
        let term = replicas[slot].raft?.status.term ?? replicas[slot].term
        for client in asyncClients {
            for pending in client.unconfirmed.pending(shard: 0) where pending.term == term {
                if pending.index > durableLast { stats.asyncLeaderFaultsBeforePersist += 1 }
                else if pending.index > commit { stats.asyncLeaderFaultsBeforeCommit += 1 }
                else { stats.asyncLeaderFaultsBeforeRelease += 1 }
            }
        }
        replicas[slot].ahead.leadershipLost()
        replicas[slot].leadingSince = nil
        // Reads waiting at a leader that steps down fail, as in production (HostCore.roleChanged):
        // their wait for the writes answered ahead belonged to this leadership.
        replicas[slot].pendingReads = [:]
        replicas[slot].waitingReads = []
    }

    /// An entry was applied at `slot`: the answers-ahead rules learn its outcome, a waiting client
    /// gets its answer, and the first application of each index is checked.
    mutating func asyncApplied(_ slot: Int, entry: Entry, applied: KeyValueApplied?, firstAtIndex: Bool) {
        if replicas[slot].ahead.isTracking { _ = replicas[slot].ahead.applied(index: entry.index, term: entry.term, now: now) }
        if firstAtIndex { checkFirstApplication(entry, applied: applied) }
        if replicas[slot].asyncWaits[entry.index] != nil { answerAtCommit(slot, entry: entry, applied: applied) }
    }
}
