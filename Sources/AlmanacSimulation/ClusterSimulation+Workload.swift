import AlmanacRaft

extension ClusterSimulation {
    /// A client write or ReadIndex read, usually at the leader, sometimes at another node.
    mutating func clientAction() {
        let up = upSlots
        guard !up.isEmpty else { return }
        var target = up[workloadRandom.int(in: 0..<up.count)]
        if let leader = leaderSlot(), workloadRandom.chance(0.85) { target = leader }
        let key = workloadRandom.int(in: 0..<options.keyCount)
        if workloadRandom.chance(0.6) {
            _ = propose(at: target, key: key)
        } else if options.asyncClients == 0 || replicas[target].role == .leader {
            // With async clients, linearizable reads are served by leaders only, as in production
            // (a follower cannot know what its leader answered ahead of commit).
            let readID = nextOperationID
            nextOperationID += 1
            do {
                try replicas[target].raft?.readIndex(context: Self.encodeReadID(readID))
                replicas[target].pendingReads[readID] = Replica.PendingRead(key: key, invoked: now)
            } catch {}
        }
        driveReady(target)
    }

    /// Proposes a write; returns its history position if the node accepted it.
    mutating func propose(at slot: Int, key: Int) -> Int? {
        let opID = nextOperationID
        nextOperationID += 1
        let command = KeyValueCommand(opID: opID, key: UInt8(key))
        do throws(RaftError) {
            guard let index = try replicas[slot].raft?.propose(command.encoded) else { return nil }
            if options.asyncFault != .stateAheadSkipsOtherProposals { replicas[slot].ahead.proposed(command.encoded, at: index) }
            history.append(KeyValueOperation(key: key, kind: .write(value: opID), invoked: now, completed: nil))
            // An earlier proposal recorded at the same index was lost at this node; its outcome stays unknown.
            replicas[slot].pendingWrites[index] = history.count - 1
            return history.count - 1
        } catch {
            lastProposalError = error
            return nil
        }
    }

    // MARK: - Liveness phase

    /// Faults stop: heal the network, calm it, restart every crashed node.
    mutating func beginLiveness() {
        phase = .liveness
        livenessStart = now
        network.healAll()
        network.dropRate = 0
        network.duplicateRate = 0
        network.slowRate = 0.01
        for slot in replicas.indices where replicas[slot].lifecycle == .down { startNode(slot) }
    }

    /// Keeps one liveness write in flight at the leader until enough are acknowledged.
    mutating func livenessClientAction() {
        let acked = livenessWrites.filter { history[$0].completed != nil }.count
        guard acked < Self.livenessWriteCount else { return }
        // Retry with a fresh write when the latest one is still unacknowledged after two election
        // timeouts (a leader change may have dropped it).
        let retryAfter = 2 * UInt64(options.electionTick) * options.tickMicros
        let inFlight = livenessWrites.last.map { history[$0].completed == nil && now - history[$0].invoked < retryAfter } ?? false
        guard !inFlight, let leader = leaderSlot() else { return }
        if let position = propose(at: leader, key: workloadRandom.int(in: 0..<options.keyCount)) {
            livenessWrites.append(position)
        }
        driveReady(leader)
    }

    /// Ends the liveness phase when every liveness write is acknowledged and every live member has
    /// applied every acknowledged write; fails when the tick bound passes first.
    mutating func checkLivenessProgress() {
        let elapsedTicks = Int((now - livenessStart) / options.tickMicros)
        stats.livenessTicksUsed = elapsedTicks
        let acked = livenessWrites.filter { history[$0].completed != nil }.count
        let highestAck = acknowledged.map(\.index).max() ?? 0
        let asyncSettled = asyncClients.allSatisfy(\.isSettled) && predictiveClients.allSatisfy(\.isSettled)
        if acked >= Self.livenessWriteCount, asyncSettled, let laggards = laggingMembers(behind: highestAck), laggards.isEmpty {
            phase = .done
            return
        }
        guard elapsedTicks > options.livenessTicks else { return }
        if acked < Self.livenessWriteCount {
            let leader = leaderSlot().map { "node \($0 + 1)" } ?? "none"
            fail(.liveness, "\(acked)/\(Self.livenessWriteCount) liveness writes committed within \(options.livenessTicks) ticks after faults stopped (leader: \(leader), last refusal: \(lastProposalError.map { "\($0)" } ?? "none")); \(clusterState())")
        } else if !asyncSettled {
            let unsettled = asyncClients.indices.filter { !asyncClients[$0].isSettled }.map {
                "client \($0): \(asyncClients[$0].unconfirmed.count) unconfirmed, \(asyncClients[$0].toSend.count) to send, waiting \(asyncClients[$0].waiting.map { "at node \($0.slot + 1) index \($0.index)" } ?? "no")"
            } + predictiveClients.indices.filter { !predictiveClients[$0].isSettled }.map {
                "predictive client \($0): waiting \(predictiveClients[$0].waiting.map { "at node \($0.slot + 1) index \($0.index)" } ?? "no")"
            }
            fail(.liveness, "async clients not settled within \(options.livenessTicks) ticks after faults stopped: \(unsettled.joined(separator: "; ")); \(clusterState())")
        } else {
            let lagging = (laggingMembers(behind: highestAck) ?? []).map { "node \($0 + 1) applied \(replicas[$0].machine.appliedIndex)" }
            fail(.acknowledgedApplied, "acknowledged write at index \(highestAck) not applied within \(options.livenessTicks) ticks: \(lagging.joined(separator: ", "))")
        }
    }

    /// One line per started node: role, term, vote, commit, log bounds and configuration.
    func clusterState() -> String {
        replicas.indices.compactMap { slot -> String? in
            guard let status = replicas[slot].raft?.status else { return nil }
            let c = status.confState
            return "node \(slot + 1): \(status.role) term \(status.term) vote \(status.vote) commit \(status.commit) "
                + "log \(status.firstIndex)...\(status.lastIndex) (last term \(replicas[slot].disk.visible.term(at: status.lastIndex).map(String.init) ?? "?")) "
                + "conf \(c.voters)/\(c.votersOutgoing) learners \(c.learners)"
        }.joined(separator: "; ")
    }

    /// Live members (per the leader's configuration) that have not applied `index`; nil without a leader.
    func laggingMembers(behind index: LogIndex) -> [Int]? {
        guard let leader = leaderSlot(), let conf = replicas[leader].raft?.status.confState else { return nil }
        let members = Set(conf.voters + conf.learners + conf.votersOutgoing + conf.learnersNext)
        return replicas.indices.filter {
            members.contains(replicas[$0].id) && replicas[$0].isUp && replicas[$0].machine.appliedIndex < index
        }
    }
}
