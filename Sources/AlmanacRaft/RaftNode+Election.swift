/// Roles, timers and elections (Raft §5.2, PreVote §9.6, CheckQuorum, leader forgetting).
extension RaftNode {
    enum CampaignKind { case preElection, election }

    /// Builds a message from this node at its current term.
    func message(_ type: MessageType, to: NodeID) -> Message {
        Message(type: type, from: id, to: to, term: term)
    }

    /// Queues a message. Everything that acknowledges an entry or grants a vote waits for the
    /// persist (`messagesAfterPersist`); leader traffic and pre-votes may leave at once.
    mutating func send(_ m: Message) {
        switch m.type {
        case .append, .heartbeat, .installSnapshot, .timeoutNow, .preVote, .readIndex, .readIndexResponse:
            msgs.append(m)
        case .voteResponse where !m.reject && config.testingFaults.contains(.skipPersistBeforeVote):
            // Deliberate fault: the vote grant leaves before the vote is durable.
            msgs.append(m)
        case .vote, .voteResponse, .preVoteResponse, .appendResponse, .heartbeatResponse:
            msgsAfterPersist.append(m)
        }
    }

    mutating func resetRandomizedElectionTimeout() {
        let span = UInt64(config.electionTick)
        randomizedElectionTimeout = config.electionTick + Int(random.next() % span)
    }

    /// Clears per-role state when entering a role; a new term clears the vote.
    mutating func reset(term newTerm: Term) {
        if newTerm != term {
            invariants.check(newTerm > term, "term decreased from \(term) to \(newTerm)")
            term = newTerm
            vote = 0
        }
        leader = 0
        electionElapsed = 0
        heartbeatElapsed = 0
        resetRandomizedElectionTimeout()
        leadTransferee = 0
        tracker.resetVotes()
        for peer in tracker.ids {
            guard let old = tracker.progress[peer] else { continue }
            var pr = tracker.newProgress(isLearner: old.isLearner, lastIndex: log.lastIndex)
            if peer == id { pr.match = log.stable }
            tracker.progress[peer] = pr
        }
        pendingConfIndex = 0
        uncommittedSize = 0
        readOnly.reset()
        pendingReads = []
        appendsPending = false
        commitBroadcastPending = false
    }

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID) {
        reset(term: newTerm)
        role = .follower
        leader = newLeader
    }

    /// PreVote: campaign without touching term or vote. The node forgets its leader, so that it
    /// grants other pre-candidates' requests instead of ignoring them under its lease (see docs).
    mutating func becomePreCandidate() {
        invariants.check(role != .leader, "leader tried to become pre-candidate in term \(term)")
        role = .preCandidate
        tracker.resetVotes()
        leader = 0
    }

    mutating func becomeCandidate() {
        invariants.check(role != .leader, "leader tried to become candidate in term \(term)")
        reset(term: term + 1)
        vote = id
        role = .candidate
    }

    mutating func becomeLeader() {
        invariants.check(role != .follower, "follower tried to become leader in term \(term)")
        reset(term: term)
        role = .leader
        leader = id
        if var me = tracker.progress[id] {
            me.becomeReplicate()
            me.match = log.stable
            me.next = log.lastIndex + 1
            tracker.progress[id] = me
        }
        // Conf entries already in the log may be unapplied: allow no new change before they apply.
        pendingConfIndex = log.lastIndex
        // The no-op of the new term (§5.4.2: commits the previous terms' entries indirectly).
        _ = appendEntry(type: .normal, data: [])
    }

    /// Whether this node may campaign: a voter (learners never campaign) with no snapshot pending.
    var promotable: Bool {
        tracker.progress[id] != nil && tracker.isVoter(id) && log.pendingSnapshot == nil
    }

    mutating func tickElection() {
        electionElapsed += 1
        if promotable && electionElapsed >= randomizedElectionTimeout {
            electionElapsed = 0
            hup(transfer: false)
        }
    }

    /// The voter other than us with the highest acknowledged index (the lowest id among equals),
    /// if any: the one whose campaign a majority is likeliest to accept.
    func mostUpToDateVoter() -> NodeID? {
        var best: (id: NodeID, match: LogIndex)?
        for peer in tracker.ids.sorted() where peer != id && tracker.isVoter(peer) {
            guard let pr = tracker.progress[peer] else { continue }
            if let current = best, pr.match <= current.match { continue }
            best = (peer, pr.match)
        }
        return best?.id
    }

    mutating func tickHeartbeat() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= config.electionTick {
            electionElapsed = 0
            if config.checkQuorum {
                if !tracker.quorumActive(selfID: id) {
                    // CheckQuorum: no quorum contact for an election timeout. Step down, forgetting
                    // ourselves as leader so that followers' pre-votes are not blocked by us, and
                    // hand over to the most up-to-date voter (RaftConfig.handOverOnQuorumLoss).
                    let successor = config.handOverOnQuorumLoss ? mostUpToDateVoter() : nil
                    becomeFollower(term: term, leader: 0)
                    if let successor { send(message(.timeoutNow, to: successor)) }
                    return
                }
                for peer in tracker.ids where peer != id { tracker.progress[peer]?.recentActive = false }
            }
            if leadTransferee != 0 { leadTransferee = 0 } // transfer abandoned after an election timeout
        }
        guard role == .leader else { return }
        maybeHandOverAfterRemoval()
        for peer in tracker.ids where peer != id {
            guard var pr = tracker.progress[peer], pr.state == .snapshot else { continue }
            pr.ticksInSnapshot += 1
            if pr.ticksInSnapshot >= config.electionTick {
                // The snapshot (or its acknowledgement) was probably lost: probe again.
                pr.becomeProbe()
            }
            tracker.progress[peer] = pr
        }
        maybeAutoLeave()
        if heartbeatElapsed >= config.heartbeatTick {
            heartbeatElapsed = 0
            broadcastHeartbeat(context: readOnly.lastContext ?? [])
        }
    }

    /// Starts a campaign if allowed: never as leader, never as a non-voter, and never while a
    /// committed configuration entry is unapplied.
    mutating func hup(transfer: Bool) {
        guard role != .leader, promotable, !log.hasUnappliedConfChange else { return }
        if config.preVote && !transfer {
            runCampaign(.preElection, transfer: false)
        } else {
            runCampaign(.election, transfer: transfer)
        }
    }

    mutating func runCampaign(_ kind: CampaignKind, transfer: Bool) {
        let voteTerm: Term
        let type: MessageType
        switch kind {
        case .preElection:
            becomePreCandidate()
            voteTerm = term + 1
            type = .preVote
        case .election:
            becomeCandidate()
            voteTerm = term
            type = .vote
        }
        tracker.recordVote(id, granted: true)
        if tracker.tallyVotes().result == .won {
            if kind == .preElection { runCampaign(.election, transfer: false) } else { becomeLeader() }
            return
        }
        // Vote requests go to voters (and, with the deliberate learnerVotes fault, to learners too).
        var electorate = tracker.quorum.allIDs
        if tracker.learnersCountAsVoters { electorate = tracker.ids }
        for peer in electorate where peer != id {
            var m = Message(type: type, from: id, to: peer, term: voteTerm, logTerm: log.lastTerm,
                            index: log.lastIndex)
            if transfer { m.context = RaftNode.transferContext }
            send(m)
        }
    }

    /// Handles a (pre-)vote request at a term at least ours (Raft §5.2, §5.4.1, §9.6).
    mutating func handleVoteRequest(_ m: Message) {
        let canVote = vote == m.from || (vote == 0 && leader == 0) || (m.type == .preVote && m.term > term)
        let responseType: MessageType = m.type == .preVote ? .preVoteResponse : .voteResponse
        if canVote && log.isUpToDate(lastIndex: m.index, lastTerm: m.logTerm) {
            // Pre-vote grants answer at the candidate's future term; real grants at our (equal) term.
            var r = voteResponse(responseType, to: m.from)
            r.term = m.term
            send(r)
            if m.type == .vote {
                electionElapsed = 0
                vote = m.from
            }
        } else {
            var r = voteResponse(responseType, to: m.from)
            r.reject = true
            send(r)
        }
    }

    /// A vote response that also tells the candidate our commit index and that entry's term.
    func voteResponse(_ type: MessageType, to: NodeID) -> Message {
        var r = message(type, to: to)
        r.commit = log.committed
        r.logTerm = log.term(at: log.committed) ?? 0
        return r
    }

    /// Adopts a commit index reported in a vote response when we hold the same entry (same index
    /// and term: by Log Matching the whole prefix is identical, and being committed is a global
    /// fact). This unwedges voters that still need a removed node's vote because they have not
    /// learned that the configuration change removing it committed: they learn it, apply it, and
    /// stop needing that vote.
    mutating func learnCommit(from m: Message) {
        guard m.commit > log.committed, m.commit <= log.lastIndex, log.matchTerm(m.commit, m.logTerm) else { return }
        commit(to: m.commit)
    }

    mutating func handleVoteResponse(_ m: Message) {
        let expected: MessageType = role == .preCandidate ? .preVoteResponse : .voteResponse
        guard m.type == expected else { return }
        tracker.recordVote(m.from, granted: !m.reject)
        switch tracker.tallyVotes().result {
        case .won:
            if role == .preCandidate { runCampaign(.election, transfer: false) } else { becomeLeader() }
        case .lost:
            becomeFollower(term: term, leader: 0)
        case .pending:
            break
        }
    }

    /// The term rules common to every role (Raft §5.1), then dispatch by role.
    mutating func stepMessage(_ m: Message) {
        if m.type == .voteResponse || m.type == .preVoteResponse { learnCommit(from: m) }
        if m.term > term {
            if m.type == .vote || m.type == .preVote {
                let force = m.context == RaftNode.transferContext
                let inLease = config.checkQuorum && leader != 0 && electionElapsed < config.electionTick
                // Leader lease: a node that heard from a leader within the election timeout ignores
                // (pre-)votes, so a partitioned node cannot disrupt a healthy leader.
                if inLease && !force { return }
            }
            switch m.type {
            case .preVote:
                break // a pre-vote never changes our term
            case .preVoteResponse where !m.reject:
                break // a grant at our future term
            case .append, .heartbeat, .installSnapshot:
                becomeFollower(term: m.term, leader: m.from)
            default:
                becomeFollower(term: m.term, leader: 0)
            }
        } else if m.term < term {
            if (config.checkQuorum || config.preVote) && (m.type == .heartbeat || m.type == .append) {
                // A stale leader (maybe cut off and unable to learn our term by elections, as PreVote
                // stops us from raising terms) learns the newer term from this answer and steps down.
                send(message(.appendResponse, to: m.from))
            } else if m.type == .preVote {
                var r = message(.preVoteResponse, to: m.from)
                r.reject = true
                send(r)
            }
            return
        }

        switch m.type {
        case .vote, .preVote:
            handleVoteRequest(m)
            return
        default:
            break
        }
        switch role {
        case .leader: stepLeader(m)
        case .candidate, .preCandidate: stepCandidate(m)
        case .follower: stepFollower(m)
        }
    }

    mutating func stepCandidate(_ m: Message) {
        switch m.type {
        case .append:
            becomeFollower(term: m.term, leader: m.from)
            handleAppend(m)
        case .heartbeat:
            becomeFollower(term: m.term, leader: m.from)
            handleHeartbeat(m)
        case .installSnapshot:
            becomeFollower(term: m.term, leader: m.from)
            handleSnapshot(m)
        case .voteResponse, .preVoteResponse:
            handleVoteResponse(m)
        case .timeoutNow where role == .preCandidate:
            // A leader that stepped down hands over (handOverOnQuorumLoss) to a node already
            // pre-campaigning: campaign for real at once, as a follower would.
            hup(transfer: true)
        default:
            break
        }
    }

    mutating func stepFollower(_ m: Message) {
        switch m.type {
        case .append:
            electionElapsed = 0
            leader = m.from
            handleAppend(m)
        case .heartbeat:
            electionElapsed = 0
            leader = m.from
            handleHeartbeat(m)
        case .installSnapshot:
            electionElapsed = 0
            leader = m.from
            handleSnapshot(m)
        case .timeoutNow:
            // Leadership transfer: campaign at once, bypassing PreVote and the peers' leases.
            hup(transfer: true)
        case .readIndexResponse:
            readStates.append(ReadState(index: m.index, context: m.context))
        default:
            break
        }
    }
}
