import AlmanacRaft

/// The checkers of async durability, over the recorded history of answers, releases and the
/// committed log (docs/simulation.md, "Async durability"). With the linearizability checker
/// (``finalChecks()``), which takes an async write as completed at its answer ahead when it took
/// effect at the answered entry, and as of unknown outcome otherwise (lost with its leader, then
/// replayed or gone with its client).
extension ClusterSimulation {
    /// At the first application of each index (state-machine safety makes it the same on every
    /// replica): a session's write takes effect at most once, and an answer ahead of commit at this
    /// entry is the result its commit produces.
    mutating func checkFirstApplication(_ entry: Entry, applied: KeyValueApplied?) {
        if let applied, applied.command.session != 0 {
            committedSessionWrites[entry.index] = SessionSequence(session: applied.command.session, sequence: applied.command.sequence)
        }
        if let applied, applied.command.session != 0, !applied.duplicate {
            let key = SessionSequence(session: applied.command.session, sequence: applied.command.sequence)
            if let earlier = effectiveApplications[key] {
                fail(.exactlyOnce, "session \(key.session) sequence \(key.sequence) took effect at \(earlier) and again at \(entry.index)")
                return
            }
            effectiveApplications[key] = entry.index
        }
        guard let answered = answersAhead.removeValue(forKey: EntryKey(index: entry.index, term: entry.term)),
              let answer = asyncWrites[answered]?.answeredAhead else { return }
        stats.asyncAnswersChecked += 1
        // (A retry of a write whose first attempt took effect is answered from the session's
        // record, ahead as at commit: the result is the first one.)
        guard let applied, applied.command.session == answered.session,
              applied.command.sequence == answered.sequence else {
            fail(.answerAheadMatchesCommit, "entry \(entry.index) (term \(entry.term)) answered ahead for session \(answered.session) sequence \(answered.sequence) committed as \(applied.map { "\($0)" } ?? "no command")")
            return
        }
        if applied.result != answer.result {
            fail(.answerAheadMatchesCommit, "session \(answered.session) sequence \(answered.sequence) was answered \(answer.result) ahead of commit at \(entry.index), its commit produced \(applied.result)")
        }
    }

    /// After the liveness phase (every client settled, every committed entry applied): every write
    /// released as durable is committed where it was released, and every write answered to a
    /// client that lives took effect exactly once.
    mutating func finalAsyncChecks() {
        for (key, record) in asyncWrites.sorted(by: { $0.key.session == $1.key.session ? $0.key.sequence < $1.key.sequence : $0.key.session < $1.key.session }) {
            if let released = record.released {
                let committedTerm = Int(released.index) < committed.count ? committed[Int(released.index)]?.term : nil
                guard committedTerm == released.term, committedSessionWrites[released.index] == key,
                      effectiveApplications[key] != nil else {
                    fail(.releasedWriteCommitted, "session \(key.session) sequence \(key.sequence) was released as durable at \(released.index) (term \(released.term)); the log holds " + (committedTerm.map { "term \($0)" } ?? "nothing committed") + " there")
                    return
                }
            }
            let answered = record.answeredAhead != nil || record.answeredAtCommit
            if answered && !record.clientCrashed && effectiveApplications[key] == nil {
                fail(.acknowledgedAsyncWriteApplied, "session \(key.session) sequence \(key.sequence) was acknowledged to a live client and never took effect")
                return
            }
        }
    }

    /// The async writes' completions for the linearizability check, by history position: at the
    /// answer ahead when the answered entry committed (the write took effect there, or before it
    /// if the answer was a retry's); at the answer at commit when
    /// it was answered so; unknown (nil) otherwise.
    func asyncCompletions() -> [Int: UInt64?] {
        var completions: [Int: UInt64?] = [:]
        for (key, record) in asyncWrites {
            if let answer = record.answeredAhead, committedSessionWrites[answer.index] == key,
               Int(answer.index) < committed.count, committed[Int(answer.index)]?.term == answer.term {
                completions[record.historyPosition] = .some(answer.at)
            } else if record.answeredAtCommit {
                completions[record.historyPosition] = .some(history[record.historyPosition].completed)
            } else {
                completions[record.historyPosition] = .some(nil)
            }
        }
        return completions
    }
}
