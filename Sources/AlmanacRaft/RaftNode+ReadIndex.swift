/// Linearizable reads by ReadIndex (Raft thesis §6.4), safe or lease-based.
extension RaftNode {
    /// Whether the leader has committed an entry of its own term (its no-op): only then does it know
    /// the true commit index of the group.
    var committedEntryInCurrentTerm: Bool { log.term(at: log.committed) == term }

    mutating func handleReadIndexRequest(from: NodeID, context: [UInt8]) {
        guard committedEntryInCurrentTerm else {
            pendingReads.append(PendingRead(from: from, context: context))
            return
        }
        let index = log.committed
        let quorum = tracker.quorum
        if !quorum.isJoint && quorum.incoming.ids == [id] {
            respondToRead(from: from, index: index, context: context)
            return
        }
        switch config.readOnlyOption {
        case .safe:
            // Confirm leadership with a heartbeat round carrying this request's context.
            readOnly.add(index: index, from: from, context: context, selfID: id)
            broadcastHeartbeat(context: context)
        case .leaseBased:
            // CheckQuorum guarantees no other leader was elected within the lease.
            respondToRead(from: from, index: index, context: context)
        }
    }

    mutating func handleReadAck(from: NodeID, context: [UInt8]) {
        guard let acks = readOnly.recordAck(from: from, context: context) else { return }
        var votes: [NodeID: Bool] = [:]
        for peer in acks { votes[peer] = true }
        guard tracker.quorum.voteResult(votes) == .won else { return }
        for request in readOnly.release(through: context) {
            respondToRead(from: request.from, index: request.index, context: request.context)
        }
    }

    mutating func respondToRead(from: NodeID, index: LogIndex, context: [UInt8]) {
        if from == id {
            readStates.append(ReadState(index: index, context: context))
        } else {
            var m = message(.readIndexResponse, to: from)
            m.index = index
            m.context = context
            send(m)
        }
    }

    /// Serves the reads that waited for the first commit of this leader's term.
    mutating func releasePendingReads() {
        guard role == .leader, committedEntryInCurrentTerm, !pendingReads.isEmpty else { return }
        let waiting = pendingReads
        pendingReads = []
        for read in waiting { handleReadIndexRequest(from: read.from, context: read.context) }
    }
}
