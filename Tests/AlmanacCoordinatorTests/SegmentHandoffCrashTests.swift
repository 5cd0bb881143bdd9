@testable import AlmanacCoordinator
import AlmanacKeyspace
@testable import AlmanacMetadata
import Testing

/// The segment hand-off protocol (docs/migration.md) with the production driver over in-memory
/// shards and map store: crashes of the driver at every step boundary (before a call lands, and
/// after it landed with its answer lost), then recovery by a fresh driver's `resume()`, then every
/// command the dead driver sent delivered again late. The checker: the hand-off either moved the
/// segments or left them where they were; the map, every shard's ownership and the records agree;
/// the namespace (the union of all shards' records) is exactly what it was; nothing stays frozen or
/// staged; every shard restarts from its snapshot to the same state.
@Suite struct SegmentHandoffCrashTests {
    static let keying = try! SegmentKeying(segmentCount: 64)

    /// Shard 0 owns every segment and the whole namespace; shards 1 and 2 own nothing yet.
    static func cluster() throws -> (HandoffTestCluster, moving: [SegmentID]) {
        let replicas = [ReplicaLocation(node: 1, zone: "a")]
        let map = try ShardMap(
            keying: keying, epoch: 1, owners: Array(repeating: 0, count: keying.segmentCount),
            shards: (0...2).map { ShardRecord(id: $0, replicas: replicas) })
        let cluster = HandoffTestCluster(map: map)
        guard case .success(.sessionRegistered(let session)) = cluster.apply(.registerSession, on: 0) else { throw Failure("no session") }
        var sequence: SequenceNumber = 0
        func run(_ operation: MetadataOperation) throws -> OperationOutcome {
            sequence += 1
            switch cluster.apply(operation, on: 0, session: session, sequence: sequence) {
            case .success(let outcome): return outcome
            case .failure(let error): throw Failure("\(operation.name): \(error)")
            }
        }
        func directory(_ parent: InodeID, _ name: String) throws -> InodeID {
            guard case .attributes(let a) = try run(.mkdir(parent: parent, name: ByteString(name), mode: 0o755, uid: 1, gid: 1)) else { throw Failure("mkdir") }
            return a.id
        }
        func file(_ parent: InodeID, _ name: String) throws -> InodeID {
            guard case .attributes(let a) = try run(.create(parent: parent, name: ByteString(name), mode: 0o644, uid: 1, gid: 1)) else { throw Failure("create") }
            return a.id
        }
        let big = try directory(.root, "big")
        for i in 0..<300 { _ = try file(big, "file-with-a-longish-name-\(i)") }  // several export pages
        let small = try directory(.root, "small")
        let nested = try directory(small, "nested")
        let shared = try file(nested, "shared")
        _ = try run(.link(target: shared, parent: small, name: "hardlink"))
        _ = try run(.symlink(parent: small, name: "symlink", target: ByteString(String(repeating: "t", count: 3000)), uid: 1, gid: 1))
        _ = try run(.setattr(id: shared, changes: SetAttributes(mode: 0o600, size: 4096)))
        _ = try directory(.root, "stays")
        // An open handle on a moving file: handles live with the session's shard and stay valid.
        guard case .opened = try run(.open(parent: small, name: "hardlink", flags: OpenFlags(access: .readWrite), mode: 0, uid: 1, gid: 1)) else { throw Failure("open") }
        let moving = Array(Set([big.segment, small.segment, nested.segment])).sorted()
        return (cluster, moving)
    }

    /// Every record of every shard, by id (a record on two shards is a violation).
    static func namespace(_ cluster: HandoffTestCluster) throws -> [InodeID: Inode] {
        var all: [InodeID: Inode] = [:]
        for shard in cluster.map.shards.keys.sorted() {
            guard let machine = cluster.machine(shard) else { continue }
            for node in machine.inodes.values {
                guard all.updateValue(node, forKey: node.id) == nil else { throw Failure("inode \(node.id) is on two shards") }
            }
        }
        return all
    }

    static func violations(_ cluster: HandoffTestCluster, before: [InodeID: Inode], moving: [SegmentID]) throws -> [String] {
        var problems: [String] = []
        let map = cluster.map
        if !map.handoffs.isEmpty { problems.append("intents left in the map: \(map.handoffs)") }
        for shard in map.shards.keys.sorted() {
            guard let machine = cluster.machine(shard) else { continue }
            if machine.outgoingHandoff != nil { problems.append("shard \(shard) is still frozen") }
            if !machine.incomingHandoffIDs.isEmpty { problems.append("shard \(shard) still stages \(machine.incomingHandoffIDs)") }
            for segment in 0..<SegmentID(keying.segmentCount) where machine.ownership.owns(segment) != (map.shard(ofSegment: segment) == shard) {
                problems.append("shard \(shard) ownership of segment \(segment) disagrees with the map (owner \(String(describing: map.shard(ofSegment: segment))))")
            }
            for id in machine.inodes.keys where map.shard(of: id) != shard {
                problems.append("inode \(id) lives on shard \(shard), the map says \(String(describing: map.shard(of: id)))")
            }
            let restored = try MetadataStateMachine(restoringFrom: machine.snapshot())
            if restored != machine { problems.append("shard \(shard) does not restore from its snapshot to the same state") }
        }
        let after = try namespace(cluster)
        if after != before { problems.append("the namespace changed: \(Set(before.keys).symmetricDifference(after.keys).count) records differ in presence") }
        let owners = Set(moving.compactMap { map.shard(ofSegment: $0) })
        if owners.count != 1 { problems.append("the moving segments ended on several shards: \(owners)") }
        return problems
    }

    static func driver(_ cluster: HandoffTestCluster, attempts: Int = 1) -> SegmentHandoffDriver {
        var driver = SegmentHandoffDriver(transport: cluster, store: cluster, clock: { 1_700_000_000_000 })
        driver.attempts = attempts
        driver.pageBudgetBytes = 1024
        driver.pause = { _ in }
        driver.lockWait = .zero
        return driver
    }

    @Test func aHandOffMovesSegmentsAndTheirRecordsToTheTarget() async throws {
        let (cluster, moving) = try Self.cluster()
        let before = try Self.namespace(cluster)
        let report = try await Self.driver(cluster).move(segments: moving, to: 1)
        #expect(report.outcome == .moved)
        #expect(report.progress.pages > 3)
        #expect(try Self.violations(cluster, before: before, moving: moving) == [])
        #expect(moving.allSatisfy { cluster.map.shard(ofSegment: $0) == 1 })
        #expect(cluster.machine(1)?.migrationTimestamp == 1_700_000_000_000)
        // The map stamps both shards: their journal entries carry the timestamp from now on.
        #expect(cluster.map.shards[0]?.migrationTimestamp == 1_700_000_000_000)
        #expect(cluster.map.shards[1]?.migrationTimestamp == 1_700_000_000_000)
        #expect(cluster.map.shards[2]?.migrationTimestamp == 0)
        // And back (a merge into shard 0), then on to shard 2.
        #expect(try await Self.driver(cluster).move(segments: moving, to: 0).outcome == .moved)
        #expect(try await Self.driver(cluster).move(segments: moving, to: 2).outcome == .moved)
        #expect(try Self.violations(cluster, before: before, moving: moving) == [])
    }

    @Test func theDriverSurvivesACrashAtEveryStepBoundary() async throws {
        let (probe, moving) = try Self.cluster()
        probe.crash(after: Int.max, losingTheLastAnswer: false)
        _ = try await Self.driver(probe).move(segments: moving, to: 1)
        let steps = probe.calls
        #expect(steps > 10)
        var outcomes: [HandoffReport.Outcome: Int] = [:]
        for step in 0...steps {
            for losingTheLastAnswer in [false, true] {
                let (cluster, moving) = try Self.cluster()
                let before = try Self.namespace(cluster)
                cluster.crash(after: step, losingTheLastAnswer: losingTheLastAnswer)
                let first = try? await Self.driver(cluster).move(segments: moving, to: 1)
                let sent = cluster.history
                cluster.recover()
                try cluster.restartShards()
                let resumed = try await Self.driver(cluster, attempts: 3).resume()
                let outcome = first?.outcome ?? resumed.first?.outcome ?? .rolledBack
                outcomes[outcome, default: 0] += 1
                // Late or repeated deliveries of everything the dead driver sent change nothing.
                let settled = try Self.namespace(cluster)
                let settledMachines = (0...2).map { cluster.machine($0) }
                for (shard, operation) in sent { cluster.apply(operation, on: shard) }
                let problems = try Self.violations(cluster, before: before, moving: moving)
                #expect(problems == [], "crash after \(step) calls (answer lost: \(losingTheLastAnswer)): \(problems)")
                #expect(try Self.namespace(cluster) == settled)
                for shard in 0...2 {
                    let now = cluster.machine(ShardID(shard))
                    #expect(now?.ownership == settledMachines[shard]?.ownership && now?.outgoingHandoff == nil,
                            "a late command changed shard \(shard) after a crash at step \(step)")
                }
            }
        }
        #expect((outcomes[.moved] ?? 0) > 0 && (outcomes[.rolledBack] ?? 0) > 0, "\(outcomes)")
    }

    @Test func aFrozenSegmentRefusesChangesAndAReleasedOneRedirects() async throws {
        let (cluster, moving) = try Self.cluster()
        guard case .success(.sessionRegistered(let session)) = cluster.apply(.registerSession, on: 0) else { throw Failure("no session") }
        let big = try #require(cluster.machine(0)?.lookupEntry(parent: .root, name: "big").id)
        #expect(cluster.apply(.freezeSegments(9, segments: moving, target: 1), on: 0).errorCode == nil)
        let create = MetadataOperation.create(parent: big, name: "late", mode: 0o644, uid: 1, gid: 1)
        #expect(cluster.apply(create, on: 0, session: session, sequence: 1).errorCode == .conflict)
        #expect(cluster.apply(.freezeSegments(10, segments: moving, target: 2), on: 0).errorCode == .conflict)
        // Roll back: the same sequence now applies (a refusal is not recorded in the session).
        #expect(cluster.apply(.abortImport(9), on: 1).errorCode == nil)
        #expect(cluster.apply(.thawSegments(9), on: 0).errorCode == nil)
        #expect(cluster.apply(create, on: 0, session: session, sequence: 1).errorCode == nil)
        #expect(cluster.apply(.freezeSegments(9, segments: moving, target: 1), on: 0).errorCode == .transactionAborted)
        // Move them; the old owner answers WRONG_SHARD, so a stale map costs a retry, never a write.
        #expect(try await Self.driver(cluster).move(segments: moving, to: 1).outcome == .moved)
        let again = MetadataOperation.create(parent: big, name: "later", mode: 0o644, uid: 1, gid: 1)
        #expect(cluster.apply(again, on: 0, session: session, sequence: 2).errorCode == .wrongShard)
        guard case .success(.sessionRegistered(let other)) = cluster.apply(.registerSession, on: 1) else { throw Failure("no session") }
        #expect(cluster.apply(again, on: 1, session: other, sequence: 1).errorCode == nil)
    }

    @Test func badHandOffsAreRefusedWithNothingChanged() async throws {
        let (cluster, moving) = try Self.cluster()
        let map = cluster.map
        let driver = Self.driver(cluster)
        await #expect(throws: HandoffError.self) { try await driver.move(segments: moving, to: 0) }   // already there
        await #expect(throws: HandoffError.self) { try await driver.move(segments: moving, to: 7) }   // unknown shard
        await #expect(throws: HandoffError.self) { try await driver.move(segments: [], to: 1) }
        await #expect(throws: HandoffError.self) { try await driver.move(segments: [9_999], to: 1) }  // no such segment
        #expect(cluster.map == map)
        // Segments of two owners: the second belongs to shard 1 after a first move.
        _ = try await driver.move(segments: [moving[0]], to: 1)
        let other = SegmentID((Int(moving[0]) + 1) % Self.keying.segmentCount)
        await #expect(throws: HandoffError.self) { try await driver.move(segments: [other, moving[0]], to: 2) }
        // A stage of segments the target owns, or pieces outside the hand-off, are refused.
        #expect(cluster.apply(.stageSegments(77, source: 0, segments: [moving[0]], pieces: []), on: 1).errorCode == .einval)
        let stray = SegmentRecordPiece(id: InodeID(segment: other, counter: 5), attributes: nil, parent: .root, symlinkTarget: nil, entries: [])
        #expect(cluster.apply(.stageSegments(78, source: 1, segments: [moving[0]], pieces: [stray]), on: 2).errorCode == .einval)
        // Activation with a staging that does not match the source's summary is refused.
        let summary = HandoffSummary(counters: [SegmentCounter(segment: moving[0], next: 9)], records: 3, entries: 0)
        #expect(cluster.apply(.activateSegments(78, source: 1, summary: summary, epoch: 5, migrationTimestamp: 1), on: 2).errorCode == .einval)
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
