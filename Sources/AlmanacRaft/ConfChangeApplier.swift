/// Why a configuration change cannot be applied to the current configuration.
struct ConfChangeRejection: Error, Sendable, Hashable {
    var reason: String
}

extension ProgressTracker {
    /// Returns the tracker after applying `change`, or why it is invalid. `lastIndex` seeds the
    /// progress of added peers. Joint-consensus semantics follow Raft §6 / the thesis §4.3:
    /// an empty change leaves the joint configuration; several steps (or an explicit joint transition)
    /// enter it; a single step is a simple change that may alter at most one voter.
    func applying(_ change: ConfChange, lastIndex: LogIndex) throws(ConfChangeRejection) -> ProgressTracker {
        var next = self
        if change.changes.isEmpty {
            try next.leaveJoint()
        } else if change.transition != .auto || change.changes.count > 1 {
            let autoLeave = change.transition != .jointExplicit
            try next.enterJoint(autoLeave: autoLeave, change.changes, lastIndex: lastIndex)
        } else {
            try next.simple(change.changes, lastIndex: lastIndex)
        }
        try next.checkConfig()
        return next
    }

    private mutating func enterJoint(autoLeave: Bool, _ steps: [ConfChangeSingle],
                                     lastIndex: LogIndex) throws(ConfChangeRejection) {
        if config.voters.isJoint { throw ConfChangeRejection(reason: "configuration is already joint") }
        if config.voters.incoming.isEmpty {
            throw ConfChangeRejection(reason: "cannot make a configuration without voters joint")
        }
        config.voters.outgoing = config.voters.incoming
        try apply(steps, lastIndex: lastIndex)
        config.autoLeave = autoLeave
    }

    private mutating func leaveJoint() throws(ConfChangeRejection) {
        if !config.voters.isJoint { throw ConfChangeRejection(reason: "cannot leave a non-joint configuration") }
        for id in config.learnersNext {
            if !config.learners.contains(id) { config.learners.append(id) }
            progress[id]?.isLearner = true
        }
        config.learners.sort()
        config.learnersNext = []
        let outgoing = config.voters.outgoing.ids
        config.voters.outgoing = MajorityConfig([])
        config.autoLeave = false
        for id in outgoing where !config.voters.incoming.contains(id) && !config.learners.contains(id) {
            progress[id] = nil
        }
    }

    private mutating func simple(_ steps: [ConfChangeSingle], lastIndex: LogIndex) throws(ConfChangeRejection) {
        if config.voters.isJoint {
            throw ConfChangeRejection(reason: "cannot apply a simple change to a joint configuration")
        }
        let before = Set(config.voters.incoming.ids)
        try apply(steps, lastIndex: lastIndex)
        let after = Set(config.voters.incoming.ids)
        if before.symmetricDifference(after).count > 1 {
            throw ConfChangeRejection(reason: "more than one voter changed without entering a joint configuration")
        }
    }

    private mutating func apply(_ steps: [ConfChangeSingle], lastIndex: LogIndex) throws(ConfChangeRejection) {
        for step in steps {
            if step.node == 0 { throw ConfChangeRejection(reason: "node id 0 is reserved") }
            switch step.kind {
            case .addVoter: makeVoter(step.node, lastIndex: lastIndex)
            case .addLearner: makeLearner(step.node, lastIndex: lastIndex)
            case .removeNode: remove(step.node)
            }
        }
        if config.voters.incoming.isEmpty { throw ConfChangeRejection(reason: "removed all voters") }
    }

    private mutating func makeVoter(_ id: NodeID, lastIndex: LogIndex) {
        if progress[id] == nil { progress[id] = newProgress(isLearner: false, lastIndex: lastIndex) }
        progress[id]?.isLearner = false
        config.learners.removeAll { $0 == id }
        config.learnersNext.removeAll { $0 == id }
        config.voters.incoming.insert(id)
    }

    private mutating func makeLearner(_ id: NodeID, lastIndex: LogIndex) {
        if progress[id] == nil { progress[id] = newProgress(isLearner: true, lastIndex: lastIndex) }
        if config.learners.contains(id) { return }
        config.voters.incoming.remove(id)
        config.learners.removeAll { $0 == id }
        config.learnersNext.removeAll { $0 == id }
        if config.voters.outgoing.contains(id) {
            // Still a voter of the outgoing half: becomes a learner when the joint config is left.
            config.learnersNext.append(id)
            config.learnersNext.sort()
        } else {
            progress[id]?.isLearner = true
            config.learners.append(id)
            config.learners.sort()
        }
    }

    private mutating func remove(_ id: NodeID) {
        guard progress[id] != nil else { return }
        config.voters.incoming.remove(id)
        config.learners.removeAll { $0 == id }
        config.learnersNext.removeAll { $0 == id }
        if !config.voters.outgoing.contains(id) { progress[id] = nil }
    }

    private func checkConfig() throws(ConfChangeRejection) {
        for id in config.learners where config.voters.contains(id) {
            throw ConfChangeRejection(reason: "node \(id) is both learner and voter")
        }
        for id in config.learnersNext where !config.voters.outgoing.contains(id) {
            throw ConfChangeRejection(reason: "node \(id) is in learnersNext but not an outgoing voter")
        }
        if !config.voters.isJoint && config.autoLeave {
            throw ConfChangeRejection(reason: "autoLeave set on a non-joint configuration")
        }
        for id in config.allMembers where progress[id] == nil {
            throw ConfChangeRejection(reason: "node \(id) has no progress")
        }
    }
}
