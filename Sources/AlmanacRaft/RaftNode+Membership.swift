/// Membership changes (Raft §6, joint consensus with automatic leave) and leadership transfer.
extension RaftNode {
    /// Applies a committed configuration entry; called from `advance` once the application applied it.
    mutating func applyConfChange(_ entry: Entry) {
        let change: ConfChange
        do {
            change = try ConfChange(decoding: entry.data)
        } catch {
            invariants.fail("undecodable configuration entry at index \(entry.index): \(error)")
            return
        }
        // An invalid change is skipped. Every replica applies the same entries from the same
        // configuration, so every replica skips it alike.
        guard let next = try? tracker.applying(change, lastIndex: log.lastIndex) else { return }
        tracker = next
        guard role == .leader else { return }
        if leadTransferee != 0 && !tracker.isVoter(leadTransferee) { leadTransferee = 0 }
        // Quorums changed: maybe commit, and start replicating to added peers.
        maybeCommit()
        appendsPending = true
        maybeHandOverAfterRemoval()
    }

    /// A leader that is no longer a voter keeps leading (its own copy no longer counts: quorums
    /// are the voters') but hands leadership to the most up-to-date voter and refuses proposals
    /// meanwhile. Stepping down at once could wedge the group: voters that have not yet applied the
    /// change still need this node's vote, which it would refuse them while its log is longer.
    mutating func maybeHandOverAfterRemoval() {
        guard role == .leader, !tracker.isVoter(id), leadTransferee == 0 else { return }
        let voters = tracker.quorum.allIDs.filter { $0 != id }
        guard let best = voters.max(by: { a, b in
            let ma = tracker.progress[a]?.match ?? 0, mb = tracker.progress[b]?.match ?? 0
            return ma != mb ? ma < mb : a > b
        }) else { return }
        try? startTransfer(to: best)
    }

    /// Leader: once a joint configuration with `autoLeave` is applied, propose leaving it.
    mutating func maybeAutoLeave() {
        guard role == .leader, tracker.config.autoLeave, tracker.config.voters.isJoint,
              pendingConfIndex <= log.applied else { return }
        let data = ConfChange.leaveJoint.encoded()
        _ = increaseUncommittedSize(data.count)
        pendingConfIndex = appendEntry(type: .configChange, data: data)
    }

    mutating func startTransfer(to target: NodeID) throws(RaftError) {
        if target == id { return } // already the leader
        guard let pr = tracker.progress[target], tracker.isVoter(target)
        else { throw .unknownNode(target) }
        if leadTransferee == target { return }
        leadTransferee = target
        // The transfer must finish within one election timeout.
        electionElapsed = 0
        if pr.match == log.lastIndex {
            send(message(.timeoutNow, to: target))
        } else {
            maybeSendAppend(to: target, sendIfEmpty: true)
        }
    }
}
