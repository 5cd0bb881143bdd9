import AlmanacRaft

extension ClusterSimulation {
    enum NemesisAction: CaseIterable {
        case symmetricPartition, isolateLeader, asymmetricPartition, bridgePartition, heal
        case crashNode, crashLeader, weather
        case membershipChange, transferLeadership, forceElection
    }

    /// One fault-schedule action, drawn from the fault generator.
    mutating func nemesisAction() {
        var actions: [NemesisAction] = []
        if options.injectFaults {
            actions += [.symmetricPartition, .isolateLeader, .isolateLeader, .asymmetricPartition, .bridgePartition,
                        .heal, .heal, .heal, .crashNode, .crashLeader, .weather]
        }
        if options.reconfigure {
            actions += [.membershipChange, .membershipChange, .transferLeadership, .forceElection]
        }
        guard !actions.isEmpty else { return }
        let live = replicas.indices.filter { replicas[$0].lifecycle != .notStarted }
        let action = actions[faultRandom.int(in: 0..<actions.count)]
        defer { note("nemesis \(action); blocked links: \(blockedLinks())") }
        switch action {
        case .symmetricPartition:
            randomPartition()
        case .isolateLeader:
            guard let leader = leaderSlot() else { return }
            isolate(leader)
        case .asymmetricPartition:
            let shuffled = live.shuffled(using: &faultRandom)
            guard shuffled.count >= 2 else { return }
            let cut = faultRandom.int(in: 1...max(1, shuffled.count / 2))
            network.healAll()
            network.cutOneWay(from: Array(shuffled[..<cut]), to: Array(shuffled[cut...]))
            stats.partitions += 1
        case .bridgePartition:
            guard live.count >= 3 else { return }
            let shuffled = live.shuffled(using: &faultRandom)
            let bridge = shuffled[0]
            let rest = Array(shuffled.dropFirst())
            let cut = rest.count / 2
            network.healAll()
            network.bridge(bridge, left: Array(rest[..<cut]), right: Array(rest[cut...]))
            stats.partitions += 1
        case .heal:
            network.healAll()
        case .crashNode:
            let up = upSlots
            let down = live.count - up.count
            guard !up.isEmpty, down < live.count - 1 else { return }
            crashNode(up[faultRandom.int(in: 0..<up.count)])
        case .crashLeader:
            guard let leader = leaderSlot() else { return }
            crashNode(leader)
        case .weather:
            network.dropRate = [0, 0, 0.01, 0.05, 0.2][faultRandom.int(in: 0..<5)]
            network.duplicateRate = [0, 0.01, 0.05, 0.1][faultRandom.int(in: 0..<4)]
            network.slowRate = [0.0, 0.02, 0.1][faultRandom.int(in: 0..<3)]
        case .membershipChange:
            changeMembership()
        case .transferLeadership:
            guard let leader = leaderSlot(), let conf = replicas[leader].raft?.status.confState else { return }
            let targets = conf.voters.filter { $0 != replicas[leader].id }
            guard !targets.isEmpty else { return }
            do {
                try replicas[leader].raft?.transferLeadership(to: targets[faultRandom.int(in: 0..<targets.count)])
                stats.transfers += 1
            } catch {}
            driveReady(leader)
        case .forceElection:
            let up = upSlots
            guard !up.isEmpty else { return }
            let slot = up[faultRandom.int(in: 0..<up.count)]
            replicas[slot].raft?.campaign()
            driveReady(slot)
        }
    }

    var liveSlots: [Int] { replicas.indices.filter { replicas[$0].lifecycle != .notStarted } }

    /// Splits the started nodes into two random non-empty sides.
    mutating func randomPartition() {
        let shuffled = liveSlots.shuffled(using: &faultRandom)
        guard shuffled.count >= 2 else { return }
        let cut = faultRandom.int(in: 1..<shuffled.count)
        network.healAll()
        network.partition(Array(shuffled[..<cut]), Array(shuffled[cut...]))
        stats.partitions += 1
        note("partition \(shuffled[..<cut].map { $0 + 1 }) | \(shuffled[cut...].map { $0 + 1 })")
    }

    /// Puts the leader on the minority side of a partition (with up to (n-1)/2 - 1 random others).
    mutating func partitionLeaderIntoMinority(_ leader: Int) {
        let others = liveSlots.filter { $0 != leader }.shuffled(using: &faultRandom)
        let minorityExtra = faultRandom.int(in: 0...max(0, (others.count + 1) / 2 - 1))
        let side = [leader] + others.prefix(minorityExtra)
        network.healAll()
        network.partition(side, Array(others.dropFirst(minorityExtra)))
        stats.partitions += 1
        note("partition leader-minority \(side.map { $0 + 1 }) | \(others.dropFirst(minorityExtra).map { $0 + 1 })")
    }

    /// Cuts `slot` off from every other node, both directions.
    mutating func isolate(_ slot: Int) {
        network.healAll()
        network.partition([slot], liveSlots.filter { $0 != slot })
        stats.partitions += 1
        note("isolate node \(slot + 1)")
    }

    /// Adds a learner, promotes one, removes a node, or swaps a voter through joint consensus.
    mutating func changeMembership() {
        guard let leader = leaderSlot(), let conf = replicas[leader].raft?.status.confState, !conf.isJoint else { return }
        let spare = replicas.indices.first { replicas[$0].lifecycle == .notStarted }
        let leaderID = replicas[leader].id
        // Voters a change may remove or demote (not the leader itself unless allowed).
        let removable = options.allowLeaderRemoval ? conf.voters : conf.voters.filter { $0 != leaderID }
        var candidates: [ConfChange] = []
        if let spare { candidates.append(ConfChange([ConfChangeSingle(.addLearner, replicas[spare].id)])) }
        for learner in conf.learners {
            candidates.append(ConfChange([ConfChangeSingle(.addVoter, learner)]))
            candidates.append(ConfChange([ConfChangeSingle(.removeNode, learner)]))
            if let voter = removable.randomElement(using: &faultRandom) {
                let transition: ConfChange.Transition = faultRandom.chance(0.5) ? .auto : .jointImplicit
                candidates.append(ConfChange([ConfChangeSingle(.addVoter, learner), ConfChangeSingle(.removeNode, voter)],
                                             transition: transition))
            }
        }
        if let spare, let learner = conf.learners.first {
            candidates.append(ConfChange([ConfChangeSingle(.removeNode, learner), ConfChangeSingle(.addLearner, replicas[spare].id)]))
        }
        if conf.voters.count > 3, let voter = removable.randomElement(using: &faultRandom) {
            candidates.append(ConfChange([ConfChangeSingle(.removeNode, voter)]))
        }
        if conf.voters.count >= 3, let voter = removable.randomElement(using: &faultRandom) {
            // Demote a voter to learner through a joint configuration.
            candidates.append(ConfChange([ConfChangeSingle(.addLearner, voter)], transition: .jointImplicit))
        }
        guard !candidates.isEmpty else { return }
        var change = candidates[faultRandom.int(in: 0..<candidates.count)]
        if conf.learners.count >= 2 && faultRandom.chance(0.3) {
            // Learner churn: drop every learner at once (a joint change with several steps).
            change = ConfChange(conf.learners.map { ConfChangeSingle(.removeNode, $0) }, transition: .jointImplicit)
        }
        do {
            try replicas[leader].raft?.proposeConfChange(change)
        } catch {
            return
        }
        stats.membershipChanges += 1
        note("leader \(leader + 1) proposes \(change.changes.map { "\($0.kind) \($0.node)" }) \(change.transition) on \(conf.voters)/\(conf.learners)")
        for single in change.changes where single.kind == .addLearner {
            let slot = Int(single.node) - 1
            if replicas[slot].lifecycle == .notStarted { startNode(slot) }
        }
        driveReady(leader)
    }
}

extension ClusterSimulation {
    func blockedLinks() -> String {
        var links: [String] = []
        for a in 0..<network.slots { for b in 0..<network.slots where network.isBlocked(from: a, to: b) { links.append("\(a + 1)->\(b + 1)") } }
        return links.isEmpty ? "none" : links.joined(separator: " ")
    }
}
