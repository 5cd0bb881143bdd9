import AlmanacRaft

extension ClusterSimulation {
    /// Takes a Ready round by the production driver's rules (``ReadyRounds``, ``HardStateWrites``;
    /// docs/simulation.md "Replica driver"): while fewer than ``Replica/roundsInFlight`` rounds
    /// persist, send `messages`, hand the snapshot, entries and hard state (a commit-only change
    /// waits for the next entries) to the disk, install the snapshot and apply `committedEntries`
    /// at once (they are durable on a majority), then schedule the round's fsync after every
    /// earlier one. A round with nothing to write finishes after the rounds before it.
    mutating func driveReady(_ slot: Int) {
        if options.fault != nil { collectCoreAssertions(slot) }
        guard violation == nil, replicas[slot].isUp, replicas[slot].rounds.canTake,
              let hasReady = replicas[slot].raft?.hasReady, hasReady,
              let ready = replicas[slot].raft?.ready() else { return }
        let id = replicas[slot].id
        let previousVote = replicas[slot].disk.visible.hardState.vote
        let previousCommit = replicas[slot].commit
        var becameLeader = false
        if let soft = ready.softState {
            becameLeader = soft.role == .leader && replicas[slot].role != .leader
            if becameLeader { replicas[slot].leadingSince = now }
            if replicas[slot].role == .leader && soft.role != .leader {
                asyncLeadershipEnds(slot)
                potentialLeadershipEnds(slot)
            }
            replicas[slot].role = soft.role
            note("node \(id) is \(soft.role) (leader \(soft.leader))")
        }
        if let hard = ready.hardState {
            let previous = replicas[slot].disk.visible.hardState
            if hard.term != previous.term || hard.vote != previous.vote {
                note("node \(id) hard state term \(hard.term) vote \(hard.vote) commit \(hard.commit)")
            }
            replicas[slot].term = hard.term
            if hard.commit < replicas[slot].commit {
                fail(.commitMonotonic, "node \(id) commit went from \(replicas[slot].commit) to \(hard.commit)")
            }
            replicas[slot].commit = max(replicas[slot].commit, hard.commit)
        }
        send(ready.messages)

        var writes: [DiskWrite] = []
        if let snapshot = ready.snapshot { writes.append(.snapshot(snapshot)) }
        if !ready.entries.isEmpty {
            checkCommittedEntriesKept(slot, overwrittenBy: ready.entries)
            writes.append(.entries(ready.entries))
        }
        if let hard = replicas[slot].hardStates.toWrite(for: ready) { writes.append(.hardState(hard)) }
        if !writes.isEmpty {
            let anomaliesBefore = replicas[slot].disk.anomalies.count
            replicas[slot].disk.write(writes)
            replicas[slot].diskWrites += 1
            if replicas[slot].disk.anomalies.count > anomaliesBefore, let problem = replicas[slot].disk.anomalies.last {
                fail(.storageContract, "node \(id): \(problem)")
            }
        }
        if !ready.entries.isEmpty { checkLogMatching(slot, written: ready.entries) }
        if becameLeader { observeNewLeader(slot) }

        // Applied now, before this node's own fsync: committed means durable on a majority.
        var configurationMayChange = false
        if let snapshot = ready.snapshot {
            installSnapshot(slot, snapshot)
            configurationMayChange = true
        }
        for entry in ready.committedEntries {
            apply(slot, entry)
            if entry.type == .configChange { configurationMayChange = true }
        }
        let round = Replica.TakenRound(ready: ready, configurationMayChange: configurationMayChange)
        guard !writes.isEmpty else {
            // A round without a write (a commit-only hard state waits for the next entries) still
            // gets the reactive faults: a leader's commit advancing is what Figure 8 needs.
            if phase == .faults && options.injectFaults {
                injectReactiveFaults(slot, ready: ready, becameLeader: becameLeader, previousVote: previousVote,
                                     previousCommit: previousCommit, diskLatency: 1)
            }
            for finished in replicas[slot].rounds.startWithoutWrite(round) {
                finishRound(slot, finished)
                guard replicas[slot].isUp, violation == nil else { return }
            }
            driveReady(slot)
            return
        }
        let roundID = replicas[slot].rounds.start(round)
        let latency = diskRandom.chance(0.01) ? UInt64(diskRandom.int(in: 10_000...50_000))
                                              : UInt64(diskRandom.int(in: 100...3_000))
        let syncAt = max(now + latency, replicas[slot].lastSyncAt)
        replicas[slot].lastSyncAt = syncAt
        queue.push(.persisted(slot: slot, incarnation: replicas[slot].incarnation, round: roundID,
                              throughWrite: replicas[slot].diskWrites), at: syncAt)
        if phase == .faults && options.injectFaults {
            injectReactiveFaults(slot, ready: ready, becameLeader: becameLeader, previousVote: previousVote,
                                 previousCommit: previousCommit, diskLatency: syncAt - now)
        }
        // Another round may be taken at once (production's loop takes one per pass, and passes
        // follow every event).
        driveReady(slot)
    }

    /// Crash points and partitions timed to protocol events (all are ordinary faults: a correct core
    /// must survive them). They make the rare interleavings behind classic Raft bugs common:
    /// - a power loss while a just-granted vote is being persisted (then a quick restart),
    /// - a power loss while any write is in flight,
    /// - a new leader cut off at once (its first entries reach nobody),
    /// - a leader cut off right after its commit index advanced (Figure 8 of the Raft paper).
    mutating func injectReactiveFaults(_ slot: Int, ready: Ready, becameLeader: Bool, previousVote: NodeID,
                                       previousCommit: LogIndex, diskLatency: UInt64) {
        let beforeSync = now + UInt64(faultRandom.int(in: 0..<Int(diskLatency)))
        if let hard = ready.hardState, hard.vote != 0, hard.vote != previousVote, hard.vote != replicas[slot].id,
           faultRandom.chance(0.2) {
            queue.push(.crash(slot: slot, quickRestart: true), at: beforeSync)
        } else if faultRandom.chance(0.003) {
            queue.push(.crash(slot: slot, quickRestart: faultRandom.chance(0.5)), at: beforeSync)
        }
        if becameLeader && faultRandom.chance(0.15) {
            queue.push(.isolate(slot: slot), at: now)
        }
        if replicas[slot].role == .leader, let hard = ready.hardState, hard.commit > previousCommit,
           faultRandom.chance(0.05) {
            queue.push(.isolate(slot: slot), at: now + UInt64(faultRandom.int(in: 0...1_000)))
        }
    }

    /// A round's fsync completed: its writes and every earlier round's are durable; finish the
    /// rounds now complete, in order.
    mutating func roundPersisted(_ slot: Int, round: UInt64, throughWrite: Int) {
        let id = replicas[slot].id
        replicas[slot].disk.sync(throughWrite: throughWrite)
        let durableCommit = replicas[slot].disk.durable.hardState.commit
        if durableCommit < replicas[slot].durableCommit {
            fail(.commitMonotonic, "node \(id) durable commit went from \(replicas[slot].durableCommit) to \(durableCommit)")
        }
        replicas[slot].durableCommit = max(replicas[slot].durableCommit, durableCommit)
        for finished in replicas[slot].rounds.persisted(round) {
            finishRound(slot, finished)
            guard replicas[slot].isUp, violation == nil else { return }
        }
        driveReady(slot)
    }

    /// Finishes a round whose write (and every earlier one) is durable: send `messagesAfterPersist`,
    /// serve reads, `advance`; then the application may snapshot (only with no round persisting,
    /// as production writes its checkpoint behind the batches in flight).
    mutating func finishRound(_ slot: Int, _ round: Replica.TakenRound) {
        let ready = round.ready
        send(ready.messagesAfterPersist)
        for readState in ready.readStates {
            if let readID = Self.decodeReadID(readState.context),
               let read = replicas[slot].pendingReads.removeValue(forKey: readID) {
                // A read also waits for every write this leader answered ahead of commit (production's rule).
                let answered = options.asyncFault == .readsIgnoreAnswersAhead ? 0 : replicas[slot].ahead.answeredThrough
                replicas[slot].waitingReads.append((read, max(readState.index, answered)))
            }
        }
        serveReads(slot)
        replicas[slot].raft?.advance(ready)
        replicas[slot].ahead.dropIfCaughtUp(applied: replicas[slot].machine.appliedIndex)
        if round.configurationMayChange {
            replicas[slot].compactionOwed = true
            observeConfiguration(slot)
            // Reactive fault: split the cluster while replicas disagree about the configuration,
            // with the leader on the minority side.
            if replicas[slot].role == .leader && phase == .faults && options.injectFaults && faultRandom.chance(0.3) {
                queue.push(.partitionLeaderMinority(slot: slot), at: now + UInt64(faultRandom.int(in: 0...2_000)))
            }
        }
        guard replicas[slot].isUp, replicas[slot].rounds.isEmpty else { return }
        maybeCompact(slot, force: replicas[slot].compactionOwed)
        replicas[slot].compactionOwed = false
    }

    mutating func apply(_ slot: Int, _ entry: Entry) {
        let id = replicas[slot].id
        guard entry.index == replicas[slot].machine.appliedIndex + 1 else {
            fail(.stateMachineSafety, "node \(id) applied index \(entry.index) after \(replicas[slot].machine.appliedIndex)")
            return
        }
        let applied = replicas[slot].machine.apply(entry, rules: PotentialRules(brokenRule: options.potentialFault, localClock: Int64(now) * 1000))
        let command = applied?.command
        let firstAtIndex = recordApplied(slot, index: entry.index, term: entry.term, digest: replicas[slot].machine.digest)
        if let applied, !applied.duplicate, firstAppliedAt[applied.command.opID] == nil { firstAppliedAt[applied.command.opID] = now }
        asyncApplied(slot, entry: entry, applied: applied, firstAtIndex: firstAtIndex)
        guard violation == nil else { return }
        if options.predictiveClients > 0 {
            potentialApplied(slot, entry: entry, applied: applied, firstAtIndex: firstAtIndex)
            guard violation == nil else { return }
        }

        if let position = replicas[slot].pendingWrites.removeValue(forKey: entry.index) {
            if let command, case .write(let value) = history[position].kind, command.opID == value {
                history[position].completed = now
                acknowledged.append((value, entry.index))
                stats.writesAcknowledged += 1
            } else {
                failedWrites.insert(position)
            }
        }
    }

    /// State-machine safety: every replica reaches the same state after applying a given index.
    /// Returns whether this is the first application of `index` on any replica.
    @discardableResult
    mutating func recordApplied(_ slot: Int, index: LogIndex, term: Term, digest: UInt64) -> Bool {
        let position = Int(index)
        while committed.count <= position { committed.append(nil) }
        if let known = committed[position] {
            if known.term != term || known.digest != digest {
                fail(.stateMachineSafety, "node \(slot + 1) applied index \(index) (term \(term)) but another replica applied a different entry or reached a different state there (term \(known.term))")
            }
            return false
        }
        committed[position] = CommittedEntry(term: term, digest: digest, committedByTerm: highestLeaderTerm)
        stats.maxCommitIndex = max(stats.maxCommitIndex, index)
        return true
    }

    mutating func installSnapshot(_ slot: Int, _ snapshot: Snapshot) {
        let id = replicas[slot].id
        guard let machine = KeyValueStateMachine(snapshotData: snapshot.data),
              machine.appliedIndex == snapshot.metadata.index else {
            fail(.storageContract, "node \(id) received a snapshot whose data does not match index \(snapshot.metadata.index)")
            return
        }
        stats.snapshotsInstalled += 1
        note("node \(id) installs snapshot \(snapshot.metadata.index) conf \(snapshot.metadata.confState.voters) learners \(snapshot.metadata.confState.learners)")
        replicas[slot].machine = machine
        recordApplied(slot, index: machine.appliedIndex, term: machine.appliedTerm, digest: machine.digest)
        _ = replicas[slot].ahead.installedSnapshot(through: snapshot.metadata.index)
        dropWaits(at: slot, through: snapshot.metadata.index)
        dropPredictiveWaits(at: slot, through: snapshot.metadata.index)
        for (index, wait) in replicas[slot].issueWaits where index <= snapshot.metadata.index {
            replicas[slot].issueWaits[index] = nil
            replicas[slot].issued.failed(wait.key)  // its fate is unknown here: the request goes in full
        }
        for index in replicas[slot].pendingWrites.keys where index <= snapshot.metadata.index {
            replicas[slot].pendingWrites[index] = nil  // outcome unknown to this client
        }
    }

    mutating func serveReads(_ slot: Int) {
        guard !replicas[slot].waitingReads.isEmpty else { return }
        let applied = replicas[slot].machine.appliedIndex
        var still: [(read: Replica.PendingRead, index: LogIndex)] = []
        for waiting in replicas[slot].waitingReads {
            if waiting.index <= applied {
                let value = replicas[slot].machine.value(of: waiting.read.key)
                history.append(KeyValueOperation(key: waiting.read.key, kind: .read(value: value),
                                                 invoked: waiting.read.invoked, completed: now))
                stats.readsCompleted += 1
            } else {
                still.append(waiting)
            }
        }
        replicas[slot].waitingReads = still
    }

    /// The application snapshots its state machine now and then and compacts the log behind it.
    /// It also snapshots right after applying a configuration change (`force`): the core sends the
    /// latest application snapshot to a follower that is too far behind, and a replica only accepts a
    /// snapshot whose configuration contains it, so a freshly added replica needs a snapshot taken
    /// after its addition (etcd's server likewise builds the snapshot it sends from current state).
    mutating func maybeCompact(_ slot: Int, force: Bool) {
        let machine = replicas[slot].machine
        let image = replicas[slot].disk.visible
        guard machine.appliedIndex > image.snapshotIndex,
              force || machine.appliedIndex - image.snapshotIndex >= LogIndex(replicas[slot].snapshotEvery),
              let confState = replicas[slot].raft?.status.confState else { return }
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: machine.appliedIndex, term: machine.appliedTerm,
                                                           confState: confState),
                                data: machine.snapshotData)
        do {
            try replicas[slot].raft?.compact(snapshot: snapshot)
        } catch {
            return
        }
        replicas[slot].disk.saveApplicationSnapshot(snapshot)
        stats.applicationSnapshots += 1
        note("node \(slot + 1) snapshots at \(snapshot.metadata.index) term \(snapshot.metadata.term) conf \(confState.voters)/\(confState.votersOutgoing) learners \(confState.learners)")
    }

    /// Notes when a node has applied a configuration that no longer contains it. The node keeps
    /// running: stopping it at once can leave the others without a quorum (for example in a joint
    /// configuration whose outgoing half still needs its vote, when the commit of the leave never
    /// reached them). The liveness phase only requires members of the final configuration.
    mutating func observeConfiguration(_ slot: Int) {
        guard let conf = replicas[slot].raft?.status.confState, !conf.voters.isEmpty else { return }
        let id = replicas[slot].id
        let isMember = conf.voters.contains(id) || conf.learners.contains(id) || conf.votersOutgoing.contains(id)
            || conf.learnersNext.contains(id)
        if isMember {
            replicas[slot].wasMember = true
        } else if replicas[slot].wasMember && !replicas[slot].retired {
            replicas[slot].retired = true
            note("node \(id) applied its own removal (keeps running)")
        }
    }

    /// With a deliberate fault the core records its own invariant breaches instead of stopping.
    mutating func collectCoreAssertions(_ slot: Int) {
        guard let recorded = replicas[slot].raft?.invariantViolations, recorded.count > replicas[slot].coreAssertionsSeen else { return }
        for message in recorded[replicas[slot].coreAssertionsSeen...] {
            stats.coreAssertions += 1
            if stats.firstCoreAssertion == nil { stats.firstCoreAssertion = message }
            note("core assertion: \(message)")
        }
        replicas[slot].coreAssertionsSeen = recorded.count
    }

    static func decodeReadID(_ context: [UInt8]) -> UInt64? {
        guard context.count == 8 else { return nil }
        var id: UInt64 = 0
        for i in 0..<8 { id |= UInt64(context[i]) << UInt64(8 * i) }
        return id
    }

    static func encodeReadID(_ id: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: id >> UInt64(8 * $0)) }
    }
}
