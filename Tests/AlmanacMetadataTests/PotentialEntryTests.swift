import Testing
@testable import AlmanacMetadata

/// Potential entries of predictive journaling, driven like a leader would, with a crash (leader
/// change) at every step boundary, checked against a run without prediction.
@Suite("Potential entries")
struct PotentialEntryTests {
    /// Where the leader dies while serving one predicted operation.
    enum Crash: CaseIterable {
        case none
        /// The issue entry was appended but never committed (lost with the leader).
        case issueLost
        /// The issue entry committed; the leader died before the request arrived.
        case afterIssue
        /// The confirmation was appended but never committed.
        case confirmLost
        /// The confirmation committed; the leader died before acknowledging.
        case afterConfirm
    }

    /// A leader and its committed log. Every committed entry is applied on two replicas; the
    /// second one is rebuilt from a snapshot whenever the leader changes.
    struct Cluster {
        var log: [CommandEnvelope] = []
        var leader = MetadataStateMachine()
        var follower = MetadataStateMachine()
        var time = Timestamp(seconds: 1_000)
        /// The leader's knowledge of the potential entries it issued: (operation) -> id. A new leader starts empty.
        var issued: [MetadataOperation: UInt64] = [:]
        var session: SessionID = 0

        @discardableResult
        mutating func commit(_ operation: MetadataOperation, session: SessionID, sequence: SequenceNumber) -> (UInt64, CommandResult) {
            time.nanoseconds += 1_000_000
            let envelope = CommandEnvelope(shardID: 0, sessionID: session, sequence: sequence, time: time, operation: operation)
            // Every entry goes through the journal codec, as in the real log.
            guard let decoded = try? CommandEnvelope(decoding: envelope.encoded()) else {
                Issue.record("\(operation.name) does not round-trip")
                return (0, .success(.done))
            }
            log.append(decoded)
            let index = UInt64(log.count)
            let result = leader.apply(decoded, at: index)
            #expect(follower.apply(decoded, at: index) == result, "replicas disagree at \(index)")
            return (index, result)
        }

        /// A leader change: the new leader restores from the old follower's snapshot, knows none of the issued entries.
        mutating func changeLeader() throws {
            let snapshot = follower.snapshot()
            follower = leader
            leader = try MetadataStateMachine(restoringFrom: snapshot)
            #expect(leader.digest == follower.digest)
            issued = [:]
        }

        /// Serves the real request `operation` as `sequence`: a confirmation if a committed
        /// potential entry matches it, else (or if the confirmation is refused) the full entry.
        mutating func serve(_ operation: MetadataOperation, sequence: SequenceNumber) -> CommandResult {
            if issued.removeValue(forKey: operation) != nil {
                let (_, result) = commit(.confirmPotential(tag: operation.potentialTag), session: session, sequence: sequence)
                if result.errorCode != .conflict { return result }
            }
            return commit(operation, session: session, sequence: sequence).1
        }

        /// Issues `operation` as a potential entry and checks it changed nothing visible.
        mutating func issue(_ operation: MetadataOperation) {
            let before = leader
            let (index, result) = commit(.issuePotential(operation: operation, expiresAt: time.adding(5_000_000_000)), session: session, sequence: 0)
            #expect(result == .success(.done), "issue of \(operation.name): \(result)")
            #expect(leader.visibleStateEquals(before), "issuing \(operation.name) changed visible state")
            if result == .success(.done) { issued[operation] = index }
        }
    }

    /// The workload: ops whose results depend on each other (handles, names, ids).
    static func workload(_ handle: HandleID) -> [MetadataOperation] {
        [
            .mkdir(parent: .root, name: "d", mode: 0o755, uid: 1, gid: 1),
            .create(parent: .root, name: "a", mode: 0o644, uid: 1, gid: 1),
            .open(parent: .root, name: "a", flags: OpenFlags(access: .readWrite), mode: 0, uid: 1, gid: 1),
            .close(handle: handle),
            .open(parent: .root, name: "n", flags: OpenFlags(access: .writeOnly, create: true), mode: 0o600, uid: 1, gid: 1),
            .rename(fromParent: .root, fromName: "a", toParent: .root, toName: "b"),
            .unlink(parent: .root, name: "b"),
            .create(parent: .root, name: "a", mode: 0o644, uid: 1, gid: 1),
        ]
    }

    /// Runs the workload; operation `predicted` is issued ahead and the leader crashes at `crash`.
    /// Returns the acknowledged results and the cluster.
    static func run(predicted: Int?, crash: Crash, mispredict: Bool = false) throws -> (acked: [SequenceNumber: CommandResult], cluster: Cluster) {
        var cluster = Cluster()
        let (_, registered) = cluster.commit(.registerSession, session: 0, sequence: 0)
        guard case .success(.sessionRegistered(let session)) = registered else { throw CodecError.inconsistent("no session") }
        cluster.session = session
        var acked: [SequenceNumber: CommandResult] = [:]
        var handle: HandleID = 0
        for step in 0..<workload(0).count {
            let operation = workload(handle)[step]
            let sequence = SequenceNumber(step + 1)
            var result: CommandResult?
            if step == predicted {
                let guess = mispredict ? MetadataOperation.create(parent: .root, name: "phantom", mode: 0o644, uid: 1, gid: 1) : operation
                switch crash {
                case .issueLost:
                    try cluster.changeLeader()  // the entry never reached the log
                case .afterIssue:
                    cluster.issue(guess)
                    try cluster.changeLeader()
                case .confirmLost:
                    cluster.issue(guess)
                    try cluster.changeLeader()  // the confirmation never reached the log
                case .afterConfirm:
                    cluster.issue(guess)
                    _ = cluster.serve(operation, sequence: sequence)  // committed, not acknowledged
                    try cluster.changeLeader()
                case .none:
                    cluster.issue(guess)
                }
            }
            // The client sends (or, after a leader change, retries) the request with the same sequence.
            result = cluster.serve(operation, sequence: sequence)
            if let result {
                acked[sequence] = result
                if case .success(.opened(let opened, _, _)) = result { handle = opened }
            }
        }
        // The worker expires what was never confirmed; the sweep would too, later.
        let pending = cluster.leader.pendingPotentials.keys.sorted()
        if !pending.isEmpty { cluster.commit(.expirePotential(ids: pending), session: 0, sequence: 0) }
        return (acked, cluster)
    }

    /// The checker: against a run without prediction, the same results (ids aside), the same
    /// names, no pending entry, every acknowledged result returned again on a retry (exactly once),
    /// and replicas that replay the recorded log from scratch reach the same state.
    static func check(_ acked: [SequenceNumber: CommandResult], _ cluster: Cluster, against reference: [SequenceNumber: CommandResult],
                      _ referenceState: MetadataStateMachine, _ label: String) throws {
        #expect(acked.count == reference.count, "\(label): lost acknowledgements")
        for (sequence, result) in reference {
            #expect(acked[sequence]?.shape == result.shape, "\(label): seq \(sequence) acked \(String(describing: acked[sequence])), reference \(result)")
        }
        #expect(cluster.leader.tree() == referenceState.tree(), "\(label): phantom or lost operation")
        #expect(cluster.leader.pendingPotentials.isEmpty)
        var retry = cluster
        for (sequence, result) in acked {
            // A duplicate sequence answers from the session's results whatever the operation says.
            let (_, replay) = retry.commit(.keepAlive, session: cluster.session, sequence: sequence)
            #expect(replay == result, "\(label): retry of seq \(sequence) gave \(replay), acked \(result)")
        }
        var fresh = MetadataStateMachine()
        for (offset, entry) in cluster.log.enumerated() { _ = fresh.apply(entry, at: UInt64(offset + 1)) }
        #expect(fresh.digest == cluster.leader.digest, "\(label): replay of the log diverges")
        #expect(try MetadataStateMachine(restoringFrom: cluster.leader.snapshot()) == cluster.leader)
    }

    @Test func everyCrashPointAtEveryStepLeavesNoPhantomAndLosesNoAcknowledgedOperation() throws {
        let (reference, referenceCluster) = try Self.run(predicted: nil, crash: .none)
        #expect(reference.values.allSatisfy { $0.errorCode == nil }, "\(reference)")
        for step in 0..<Self.workload(0).count {
            for crash in Crash.allCases {
                for mispredict in [false, true] {
                    let (acked, cluster) = try Self.run(predicted: step, crash: crash, mispredict: mispredict)
                    try Self.check(acked, cluster, against: reference, referenceCluster.leader, "step \(step) \(crash) mispredict \(mispredict)")
                }
            }
        }
    }

    @Test func aConfirmedCreateUsesTheReservedIDAndTheConfirmationIsCompact() throws {
        var cluster = Cluster()
        let (_, registered) = cluster.commit(.registerSession, session: 0, sequence: 0)
        guard case .success(.sessionRegistered(let session)) = registered else { throw CodecError.inconsistent("no session") }
        cluster.session = session
        let create = MetadataOperation.create(parent: .root, name: "reserved-name.txt", mode: 0o644, uid: 1, gid: 1)
        cluster.issue(create)
        let id = try #require(cluster.issued[create])
        let reserved = try #require(cluster.leader.pendingPotentials[id]?.reserved)
        let leader = cluster.leader
        #expect(queryError { () throws(MetadataError) in try leader.lookup(parent: .root, name: "reserved-name.txt") } == .enoent)
        // Another create in between takes the next id, not the reserved one.
        let other = cluster.serve(.create(parent: .root, name: "other", mode: 0o644, uid: 1, gid: 1), sequence: 1)
        guard case .success(.attributes(let otherAttributes)) = other else { throw CodecError.inconsistent("\(other)") }
        #expect(otherAttributes.id != reserved)
        let confirm = CommandEnvelope(shardID: 0, sessionID: session, sequence: 2, time: cluster.time, operation: .confirmPotential(tag: create.potentialTag))
        let full = CommandEnvelope(shardID: 0, sessionID: session, sequence: 2, time: cluster.time, operation: create)
        // A fixed-size confirmation (21 bytes here) instead of the full entry, whatever the name length.
        #expect(confirm.encoded().count <= 24 && confirm.encoded().count < full.encoded().count, "\(confirm.encoded().count) vs \(full.encoded().count) bytes")
        let result = cluster.serve(create, sequence: 2)
        guard case .success(.attributes(let attributes)) = result else { throw CodecError.inconsistent("\(result)") }
        #expect(attributes.id == reserved)
        #expect(cluster.leader.pendingPotentials.isEmpty)
    }

    @Test func invalidOrForeignPotentialEntriesAreRefusedAndConfirmationsOfMissingEntriesAreRefusedBeforeExecution() throws {
        var cluster = Cluster()
        let (_, registered) = cluster.commit(.registerSession, session: 0, sequence: 0)
        guard case .success(.sessionRegistered(let session)) = registered else { throw CodecError.inconsistent("no session") }
        let expires = cluster.time.adding(1_000_000_000)
        #expect(cluster.commit(.issuePotential(operation: .close(handle: 9), expiresAt: expires), session: session, sequence: 0).1.errorCode == .ebadf)
        // Not predictable: refused by the codec (a leader cannot even journal it) and by apply.
        let keepAlive = CommandEnvelope(shardID: 0, sessionID: session, sequence: 0, time: cluster.time,
                                        operation: .issuePotential(operation: .keepAlive, expiresAt: expires))
        #expect(throws: CodecError.self) { try CommandEnvelope(decoding: keepAlive.encoded()) }
        var direct = cluster.leader
        #expect(direct.apply(keepAlive, at: UInt64(cluster.log.count + 1)).errorCode == .einval)
        #expect(cluster.commit(.issuePotential(operation: .create(parent: .root, name: "x", mode: 0o644, uid: 1, gid: 1), expiresAt: expires),
                               session: 77, sequence: 0).1.errorCode == .unknownSession)
        #expect(cluster.commit(.issuePotential(operation: .create(parent: InodeID(999), name: "x", mode: 0o644, uid: 1, gid: 1), expiresAt: expires),
                               session: session, sequence: 0).1.errorCode == .enoent)
        #expect(cluster.leader.pendingPotentials.isEmpty)
        // A confirmation of nothing: CONFLICT, and the sequence stays free for the full entry.
        #expect(cluster.commit(.confirmPotential(tag: 3), session: session, sequence: 1).1.errorCode == .conflict)
        #expect(cluster.commit(.create(parent: .root, name: "x", mode: 0o644, uid: 1, gid: 1), session: session, sequence: 1).1.errorCode == nil)
        // An entry past its expiry is swept by later entries and cannot be confirmed.
        let unlink = MetadataOperation.unlink(parent: .root, name: "x")
        let (_, issued) = cluster.commit(.issuePotential(operation: unlink, expiresAt: cluster.time.adding(2_000_000)), session: session, sequence: 0)
        #expect(issued == .success(.done))
        cluster.time.nanoseconds += 500_000_000
        #expect(cluster.commit(.confirmPotential(tag: unlink.potentialTag), session: session, sequence: 2).1.errorCode == .conflict)
        #expect(cluster.leader.pendingPotentials.isEmpty)
        // Closing the session drops its entries.
        cluster.commit(.issuePotential(operation: .unlink(parent: .root, name: "x"), expiresAt: cluster.time.adding(9_000_000_000)), session: session, sequence: 0)
        #expect(cluster.leader.pendingPotentials.count == 1)
        cluster.commit(.closeSession, session: session, sequence: 3)
        #expect(cluster.leader.pendingPotentials.isEmpty)
    }
}

extension CommandResult {
    /// The result without inode ids and times: what must agree with a run without prediction.
    var shape: String {
        switch self {
        case .failure(let error): "\(error.code)"
        case .success(.attributes(let attributes)): "attributes \(attributes.type) \(attributes.mode) \(attributes.nlink)"
        case .success(.opened(let handle, let attributes, let created)): "opened \(handle) \(attributes.type) \(created)"
        case .success(let other): "\(other)"
        }
    }
}

extension MetadataStateMachine {
    /// Everything a client can observe, minus the segment counters a reservation advances.
    func visibleStateEquals(_ other: MetadataStateMachine) -> Bool {
        inodes == other.inodes && handles == other.handles && nextHandle == other.nextHandle && openCounts == other.openCounts
            && sessions.mapValues(\.results) == other.sessions.mapValues(\.results)
    }

    /// The namespace as names and types (recursive), ids left out.
    func tree(_ directory: InodeID = .root, prefix: String = "/") -> [String] {
        guard let node = inodes[directory] else { return [] }
        var lines: [String] = []
        for (name, entry) in node.entries.namedEntries {
            let child = entry.child
            let path = prefix + name.string
            let type = inodes[child]?.type
            lines.append("\(path) \(String(describing: type))")
            if type == .directory { lines += tree(child, prefix: path + "/") }
        }
        return lines
    }
}
