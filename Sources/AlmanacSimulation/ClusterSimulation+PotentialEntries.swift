import AlmanacPotentialEntries
import AlmanacRaft

/// Potential entries in the simulation (docs/simulation.md, "Potential entries"): leaders predict
/// the next write of each predictive client and journal it ahead as a potential entry; the real
/// write is journaled as a compact confirmation when the leader's issued set matches it
/// (`AlmanacPotentialEntries.IssuedPotentials`, the server's rules), and in full otherwise or
/// when the state machine refuses the confirmation (`PendingPotentials`, the metadata state
/// machine's rules). Some predictions are wrong: their values are never written by any client, so
/// seeing one in the state is a phantom. Crashes and partitions are timed to each step.
extension ClusterSimulation {
    /// What the checkers record of one predicted client's write.
    struct PredictedWriteRecord: Sendable {
        var historyPosition: Int
        var answered = false
    }

    /// How long after its proposal a leader's prediction may still be confirmed, and after how
    /// long the journal's expiry lets the state machine drop it (simulated microseconds). Drawn
    /// independently, so the journal expiry sometimes comes first and confirmations are refused.
    static let predictionDeadlineMicros = 2_000...30_000
    static let potentialJournalExpiryMicros = 1_000...40_000

    mutating func startPredictiveClients() {
        for client in 0..<options.predictiveClients {
            predictiveClients.append(PredictiveClient(session: takeSession(), upcoming: nextPredictedWrite()))
            queue.push(.predictiveClient(client), at: UInt64(2_500 + client * 900))
        }
    }

    /// A fresh value for a register: what a client writes next.
    mutating func nextPredictedWrite() -> (opID: UInt64, key: Int) {
        defer { nextOperationID += 1 }
        return (nextOperationID, workloadRandom.int(in: 0..<options.keyCount))
    }

    var commandTime: Int64 { Int64(now) * 1000 }

    // MARK: - The client's turn

    mutating func predictiveClientAction(_ client: Int) {
        switch phase {
        case .faults: queue.push(.predictiveClient(client), at: now + UInt64(workloadRandom.int(in: 1_000...12_000)))
        case .liveness: queue.push(.predictiveClient(client), at: now + 5_000)
        case .done: return
        }
        if let waiting = predictiveClients[client].waiting {
            // Production's operation timeout: give up on this node and send the write again.
            guard now - waiting.since > 2 * UInt64(options.electionTick) * options.tickMicros else { return }
            dropPredictiveWait(client)
        }
        if predictiveClients[client].current == nil {
            guard phase == .faults, workloadRandom.chance(0.85) else { return }
            let next = predictiveClients[client].upcoming
            predictiveClients[client].upcoming = nextPredictedWrite()
            let sequence = predictiveClients[client].nextSequence
            predictiveClients[client].nextSequence += 1
            history.append(KeyValueOperation(key: next.key, kind: .write(value: next.opID), invoked: now, completed: nil))
            predictiveClients[client].current = PredictiveClient.Write(opID: next.opID, key: next.key, sequence: sequence,
                                                                       historyPosition: history.count - 1)
            if predictedValues[next.opID] != nil { predictedValues[next.opID] = true }
            predictedWrites[SessionSequence(session: predictiveClients[client].session, sequence: sequence)] =
                PredictedWriteRecord(historyPosition: history.count - 1)
        }
        guard let target = asyncTarget() else { return }
        sendPredicted(client, to: target)
        driveReady(target)
    }

    /// The leader journals the client's write: a confirmation when its issued predictions match
    /// it, the full write otherwise. A node that does not lead refuses it (sent again later).
    mutating func sendPredicted(_ client: Int, to slot: Int) {
        guard replicas[slot].role == .leader, let write = predictiveClients[client].current else { return }
        let session = predictiveClients[client].session
        let full = KeyValueCommand(opID: write.opID, key: UInt8(write.key), session: session, sequence: write.sequence)
        let key = IssuedPotentials<UInt64>.Key(session: session, tag: full.potentialTag)
        if replicas[slot].issued.match(key, now: Int64(now)) {
            stats.potentialConfirmationsProposed += 1
            let data = PotentialCommand.confirm(session: session, sequence: write.sequence, tag: key.tag, time: commandTime).encoded
            proposePredicted(client, data: data, journaled: .confirmation, at: slot)
            injectPotentialFaults(slot)
        } else {
            proposePredicted(client, data: full.encoded, journaled: .full, at: slot)
        }
    }

    mutating func proposePredicted(_ client: Int, data: [UInt8], journaled: PredictiveClient.Journaled, at slot: Int) {
        guard let (index, term) = proposeAtLeader(data, at: slot) else { return }
        predictiveClients[client].waiting = PredictiveClient.Waiting(
            request: journaled, slot: slot, incarnation: replicas[slot].incarnation, index: index, term: term, since: now)
        replicas[slot].predictiveWaits[index] = client
    }

    /// Proposes `data` at `slot` (and to its state ahead, as every proposal of a leader).
    mutating func proposeAtLeader(_ data: [UInt8], at slot: Int) -> (LogIndex, Term)? {
        do throws(RaftError) {
            guard let index = try replicas[slot].raft?.propose(data), let term = replicas[slot].raft?.status.term else { return nil }
            if options.asyncFault != .stateAheadSkipsOtherProposals { replicas[slot].ahead.proposed(data, at: index) }
            return (index, term)
        } catch {
            lastProposalError = error
            return nil
        }
    }

    /// The client's write will get no answer from its node: it is sent again at its next turn.
    mutating func dropPredictiveWait(_ client: Int) {
        guard let waiting = predictiveClients[client].waiting else { return }
        predictiveClients[client].waiting = nil
        if replicas[waiting.slot].predictiveWaits[waiting.index] == client { replicas[waiting.slot].predictiveWaits[waiting.index] = nil }
    }

    /// Every predictive wait at `slot` (through `index`) ends unanswered.
    mutating func dropPredictiveWaits(at slot: Int, through index: LogIndex = .max) {
        for (waitIndex, client) in replicas[slot].predictiveWaits where waitIndex <= index {
            replicas[slot].predictiveWaits[waitIndex] = nil
            if predictiveClients[client].waiting?.slot == slot, predictiveClients[client].waiting?.index == waitIndex {
                predictiveClients[client].waiting = nil
            }
        }
    }

    // MARK: - The leader's side

    /// After answering `client`, the leader predicts its next write: mostly right, sometimes a
    /// value no client will ever write.
    mutating func predictNext(_ client: Int, at slot: Int) {
        guard phase == .faults, replicas[slot].role == .leader, workloadRandom.chance(0.8) else { return }
        let session = predictiveClients[client].session
        let predicted: KeyValueCommand
        if workloadRandom.chance(0.75) {
            let upcoming = predictiveClients[client].upcoming
            predicted = KeyValueCommand(opID: upcoming.opID, key: UInt8(upcoming.key))
            if predictedValues[upcoming.opID] == nil { predictedValues[upcoming.opID] = false }
        } else {
            let wrong = nextPredictedWrite()
            predicted = KeyValueCommand(opID: wrong.opID, key: UInt8(wrong.key))
            predictedValues[wrong.opID] = false
            stats.potentialWrongPredictions += 1
        }
        let key = IssuedPotentials<UInt64>.Key(session: session, tag: predicted.potentialTag)
        guard !replicas[slot].issued.isTracked(key) else { return }
        let deadline = now + UInt64(workloadRandom.int(in: Self.predictionDeadlineMicros))
        let expiresAt = Int64(now + UInt64(workloadRandom.int(in: Self.potentialJournalExpiryMicros))) * 1000
        let data = PotentialCommand.issue(session: session, write: predicted, time: commandTime, expiresAt: expiresAt).encoded
        guard let (index, term) = proposeAtLeader(data, at: slot) else { return }
        stats.potentialIssuesProposed += 1
        replicas[slot].issued.proposed(predicted.opID, key: key, deadline: Int64(deadline), now: Int64(now))
        replicas[slot].issueWaits[index] = IssueWait(key: key, term: term)
        injectPotentialFaults(slot)
    }

    /// At each tick of a leader: one expiry entry for its committed predictions past their deadline.
    mutating func expireOverduePredictions(_ slot: Int) {
        guard replicas[slot].role == .leader else { return }
        let ids = replicas[slot].issued.overdue(now: Int64(now), forgetUnheardAfter: Int64(Self.potentialJournalExpiryMicros.upperBound))
        guard !ids.isEmpty, proposeAtLeader(PotentialCommand.expire(ids: ids, time: commandTime).encoded, at: slot) != nil else { return }
        stats.potentialExpired += ids.count
    }

    /// Faults timed to a potential entry's steps: the leader crashes before or around the fsync of
    /// an issue or a confirmation, or is cut off.
    mutating func injectPotentialFaults(_ slot: Int) {
        guard phase == .faults, options.injectFaults else { return }
        switch faultRandom.int(in: 0..<1_000) {
        case 0..<8: queue.push(.crash(slot: slot, quickRestart: faultRandom.chance(0.5)), at: now)
        case 8..<16: queue.push(.crash(slot: slot, quickRestart: true), at: now + UInt64(faultRandom.int(in: 50...4_000)))
        case 16..<24: queue.push(.isolate(slot: slot), at: now)
        default: break
        }
    }

    /// The node stops leading (crash or step-down): books the step each of its predictions had
    /// reached, then forgets them (a later request is journaled in full) and fails its waits.
    mutating func potentialLeadershipEnds(_ slot: Int) {
        guard options.predictiveClients > 0 else { return }
        let committed = replicas[slot].issued.committedCount
        stats.potentialLeaderFaultsIssueInFlight += replicas[slot].issued.count - committed
        stats.potentialLeaderFaultsIssuedUnconfirmed += committed
        stats.potentialLeaderFaultsConfirmationInFlight += predictiveClients.filter {
            $0.waiting?.slot == slot && $0.waiting?.request == .confirmation
        }.count
        replicas[slot].issued.removeAll()
        replicas[slot].issueWaits = [:]
        dropPredictiveWaits(at: slot)
    }

    /// An entry was applied at `slot`: a leader learns whether its issue was recorded, a waiting
    /// client gets its answer, and the first application of each index is checked for phantoms.
    mutating func potentialApplied(_ slot: Int, entry: Entry, applied: KeyValueApplied?, firstAtIndex: Bool) {
        if firstAtIndex, let applied, !applied.duplicate, predictedValues[applied.command.opID] == false {
            fail(.potentialEntryInvisible, "entry \(entry.index) wrote \(applied.command.opID) to register \(applied.command.key), a predicted value no client had written")
            return
        }
        if firstAtIndex, case .issue? = PotentialCommand(decoding: entry.data) {
            if replicas[slot].machine.potentials.entries[entry.index] != nil { stats.potentialIssuesRecorded += 1 } else { stats.potentialIssuesRefused += 1 }
        }
        if let wait = replicas[slot].issueWaits.removeValue(forKey: entry.index) {
            if wait.term == entry.term, replicas[slot].machine.potentials.entries[entry.index] != nil {
                replicas[slot].issued.committed(wait.key, id: entry.index)
            } else {
                replicas[slot].issued.failed(wait.key)
            }
        }
        guard let client = replicas[slot].predictiveWaits.removeValue(forKey: entry.index),
              let waiting = predictiveClients[client].waiting, waiting.slot == slot, waiting.index == entry.index,
              waiting.incarnation == replicas[slot].incarnation else { return }
        predictiveClients[client].waiting = nil
        // Replaced by another leader's entry: nothing of it applied, the client sends it again.
        guard waiting.term == entry.term else { return }
        if waiting.request == .confirmation && applied == nil {
            // Refused before execution (its issue was refused, lost or expired): journal it in full.
            stats.potentialConfirmationsRefused += 1
            if options.potentialFault != .refusalAnswered {
                sendPredicted(client, to: slot)
                return
            }
        } else if waiting.request == .confirmation {
            stats.potentialConfirmed += 1
        }
        answerPredicted(client, at: slot)
    }

    mutating func answerPredicted(_ client: Int, at slot: Int) {
        guard let write = predictiveClients[client].current else { return }
        history[write.historyPosition].completed = now
        predictedWrites[SessionSequence(session: predictiveClients[client].session, sequence: write.sequence)]?.answered = true
        stats.predictedWritesAnswered += 1
        predictiveClients[client].current = nil
        predictNext(client, at: slot)
    }

    // MARK: - Checks

    /// After the liveness phase: every answered write of a predictive client took effect (exactly
    /// once is checked at each first application, phantoms likewise).
    mutating func finalPredictiveChecks() {
        for (key, record) in predictedWrites.sorted(by: { $0.key.session == $1.key.session ? $0.key.sequence < $1.key.sequence : $0.key.session < $1.key.session })
        where record.answered && effectiveApplications[key] == nil {
            fail(.acknowledgedPredictedWriteApplied, "session \(key.session) sequence \(key.sequence) was answered and never took effect")
            return
        }
    }
}

/// A leader's issue waiting to be applied: which prediction, proposed in which term.
struct IssueWait: Sendable, Hashable {
    var key: IssuedPotentials<UInt64>.Key
    var term: Term
}
