import AlmanacRaft

extension ClusterSimulation {
    /// A write truncating from `entries.first.index` must not replace an entry this node holds that is
    /// known to be committed.
    mutating func checkCommittedEntriesKept(_ slot: Int, overwrittenBy entries: [Entry]) {
        guard let first = entries.first?.index else { return }
        let image = replicas[slot].disk.visible
        guard first <= image.lastIndex else { return }
        for index in max(first, image.snapshotIndex + 1)...image.lastIndex {
            guard Int(index) < committed.count, let known = committed[Int(index)],
                  image.term(at: index) == known.term else { continue }
            let offset = Int(index - first)
            let replacement = offset < entries.count ? entries[offset] : nil
            if replacement?.term != known.term {
                fail(.committedEntryKept, "node \(slot + 1) overwrote committed entry \(index) (term \(known.term)) with "
                     + (replacement.map { "term \($0.term)" } ?? "nothing (truncated)"))
                return
            }
        }
    }

    /// Log matching, checked inductively: an entry (index, term) must always have the same content and
    /// follow the same previous term, whichever node writes it.
    mutating func checkLogMatching(_ slot: Int, written entries: [Entry]) {
        let image = replicas[slot].disk.visible
        for entry in entries {
            var hasher = StableHasher()
            hasher.combine(UInt64(entry.type.rawValue))
            hasher.combine(entry.data)
            let fingerprint = EntryFingerprint(content: hasher.value,
                                               previousTerm: entry.index <= 1 ? 0 : image.term(at: entry.index - 1))
            let key = EntryKey(index: entry.index, term: entry.term)
            guard let known = fingerprints[key] else {
                fingerprints[key] = fingerprint
                continue
            }
            if known.content != fingerprint.content {
                fail(.logMatching, "node \(slot + 1) holds a different entry at index \(entry.index) term \(entry.term) than another node")
                return
            }
            if let a = known.previousTerm, let b = fingerprint.previousTerm, a != b {
                fail(.logMatching, "node \(slot + 1): entry \(entry.index)/term \(entry.term) follows term \(b) but elsewhere term \(a)")
                return
            }
            if known.previousTerm == nil { fingerprints[key] = fingerprint }
        }
    }

    /// Election safety and leader completeness, checked when a node announces itself leader.
    mutating func observeNewLeader(_ slot: Int) {
        guard let status = replicas[slot].raft?.status else { return }
        let term = status.term
        let id = replicas[slot].id
        note("node \(id) leads term \(term) with configuration \(status.confState.voters)/\(status.confState.votersOutgoing) learners \(status.confState.learners)")
        replicas[slot].term = term
        stats.leadersElected += 1
        stats.highestTerm = max(stats.highestTerm, term)
        if let other = leaderOfTerm[term], other != id {
            fail(.electionSafety, "nodes \(other) and \(id) both became leader of term \(term)")
            return
        }
        leaderOfTerm[term] = id
        highestLeaderTerm = max(highestLeaderTerm, term)

        let image = replicas[slot].disk.visible
        let last = committed.count - 1
        guard last >= 1 else { return }
        for position in max(1, Int(image.snapshotIndex))...last {
            guard let known = committed[position], known.committedByTerm < term else { continue }
            let held = image.term(at: LogIndex(position))
            if held != known.term {
                fail(.leaderCompleteness, "leader \(id) of term \(term) lacks committed entry \(position) (term \(known.term)); it holds "
                     + (held.map { "term \($0)" } ?? "nothing") + " there")
                return
            }
        }
    }

    /// End of run: the client history is linearizable. Writes whose client never learned the outcome
    /// are resolved from what the replicas applied (which state-machine safety checks separately):
    /// a write that some replica applied had taken effect by its first apply (any later ReadIndex
    /// read must see it), and a write no replica applied never took effect (after the liveness
    /// phase every committed entry is applied). Without this, each such write would be an
    /// operation with an open end, and a few dozen of them make the search explode.
    mutating func finalChecks() {
        if options.asyncClients > 0 {
            finalAsyncChecks()
            guard violation == nil else { return }
        }
        if options.predictiveClients > 0 {
            finalPredictiveChecks()
            guard violation == nil else { return }
        }
        let asyncCompletions = asyncCompletions()
        var history: [KeyValueOperation] = []
        history.reserveCapacity(self.history.count)
        for (position, operation) in self.history.enumerated() where !failedWrites.contains(position) {
            var op = operation
            if let completion = asyncCompletions[position] { op.completed = completion }
            if op.completed == nil, case .write(let id) = op.kind {
                guard let applied = firstAppliedAt[id] else { continue }
                op.completed = max(applied, op.invoked)
            }
            history.append(op)
        }
        stats.historyOperations = history.count
        stats.unknownWrites = history.filter { $0.completed == nil }.count
        switch LinearizabilityChecker.check(history) {
        case .linearizable: break
        case .notLinearizable(let key):
            let ops = history.filter { $0.key == key }
            for op in ops { note("register \(key): \(op.kind) invoked \(op.invoked) completed \(op.completed.map(String.init) ?? "unknown")") }
            fail(.linearizableReads, "history of register \(key) (\(ops.count) operations) has no linearization")
        case .inconclusive:
            stats.linearizabilityInconclusive = true
        }
    }
}
