@testable import AlmanacCoordinator
@testable import AlmanacMetadata
import AlmanacServer
import Logging

/// One cross-shard operation on a small namespace spread over four in-memory shards, run with an
/// optional coordinator crash, settled by the resolver, and checked against a one-shard reference.
final class Scenario: @unchecked Sendable {
    let name: String
    let keying: SegmentKeying
    let map: ShardMap
    let shards: InMemoryShards
    var reference: MetadataStateMachine
    var referenceIndex: UInt64 = 0
    var referenceSession: SessionID = 0
    var sessions: [ShardID: SessionID] = [:]
    var sequences: [ShardID: SequenceNumber] = [:]
    /// The operation under test, its primary shard and its session and sequence there.
    var operation: MetadataOperation = .keepAlive
    var primary: ShardID = 0
    var session: SessionID = 0
    var sequence: SequenceNumber = 0
    var after: [String: String] = [:]

    struct Outcome {
        var commands: Int
        var violations: [String]
        /// The coordinator's answer: nil when it ended without one (a service error).
        var answer: CommandResult?
    }

    init(_ name: String) throws {
        self.name = name
        keying = try SegmentKeying(segmentCount: 64)
        map = try ShardMap.initial(keying: keying, shardCount: 4) { _ in [ReplicaLocation(node: 1, zone: "z1")] }
        shards = InMemoryShards(map: map)
        reference = MetadataStateMachine(config: MetadataConfig(shardID: 0, keying: keying))
        for shard in map.shards.keys.sorted() {
            if case .success(.sessionRegistered(let id)) = shards.apply(.registerSession, on: shard) { sessions[shard] = id }
        }
        referenceSession = referenceApply(.registerSession, sequence: 0).outcome.flatMap {
            if case .sessionRegistered(let id) = $0 { return id } else { return nil }
        } ?? 0
    }

    // MARK: - Building the namespace

    func referenceApply(_ operation: MetadataOperation, sequence: SequenceNumber) -> CommandResult {
        referenceIndex += 1
        let envelope = CommandEnvelope(shardID: 0, sessionID: operation == .registerSession ? 0 : referenceSession, sequence: sequence,
                                       time: Timestamp(seconds: Int64(referenceIndex)), operation: operation)
        return reference.apply(envelope, at: referenceIndex)
    }

    func shard(_ id: InodeID) -> ShardID { map.shard(of: id) ?? 0 }

    /// Applies `operation` routed by `routing` as a client would (single-shard attempt, then the
    /// coordinator), with no crash; returns the result.
    @discardableResult
    func perform(_ operation: MetadataOperation, routedBy routing: InodeID) async -> CommandResult {
        let primary = shard(routing)
        let sequence = (sequences[primary] ?? 0) + 1
        sequences[primary] = sequence
        _ = referenceApply(operation, sequence: referenceIndex + 1)
        let session = sessions[primary] ?? 0
        let first = shards.apply(operation, on: primary, session: session, sequence: sequence)
        guard first.errorCode == .crossShard else { return first }
        switch await TransactionCoordinator(transport: shards, logger: Logger(label: "setup"))
            .run(operation, primary: primary, session: SessionRef(id: session, sequence: sequence)) {
        case .success(let outcome): return outcome.result
        case .failure(let error): return .failure(MetadataError(.internalInconsistency, "\(error)"))
        }
    }

    /// A directory name in `parent` whose segment belongs to `shard`.
    func directoryName(in parent: InodeID, onShard shard: ShardID, prefix: String) -> ByteString {
        for i in 0..<10_000 {
            let name = "\(prefix)\(i)"
            if map.shard(ofSegment: keying.segmentForNewDirectory(parent: parent, name: name.utf8)) == shard { return ByteString(name) }
        }
        return ByteString(prefix)
    }

    func mkdir(_ parent: InodeID, onShard shard: ShardID, _ prefix: String) async -> (InodeID, ByteString) {
        let name = directoryName(in: parent, onShard: shard, prefix: prefix)
        guard case .success(.attributes(let a)) = await perform(.mkdir(parent: parent, name: name, mode: 0o755, uid: 0, gid: 0), routedBy: parent) else {
            return (InodeID(0), name)
        }
        return (a.id, name)
    }

    func create(_ parent: InodeID, _ name: ByteString) async -> InodeID {
        guard case .success(.attributes(let a)) = await perform(.create(parent: parent, name: name, mode: 0o644, uid: 0, gid: 0), routedBy: parent) else {
            return InodeID(0)
        }
        return a.id
    }

    // MARK: - Running

    func run(crashAfter: Int?, losingTheLastAnswer: Bool) async throws -> Outcome {
        // The base tree: /A (shard 1) with file f and empty dir E, /B (shard 2) with file g,
        // /C (shard 3) with C/S/D below it, and an empty /R (shard 2).
        let (a, _) = await mkdir(.root, onShard: 1, "A")
        let (b, _) = await mkdir(.root, onShard: 2, "B")
        let (c, _) = await mkdir(.root, onShard: 3, "C")
        let (s, sName) = await mkdir(c, onShard: 1, "S")
        _ = await mkdir(s, onShard: 2, "D")
        let (_, rName) = await mkdir(.root, onShard: 2, "R")
        let f = await create(a, "f")
        _ = await create(b, "g")
        switch name {
        case "mkdir":
            operation = .mkdir(parent: a, name: directoryName(in: a, onShard: 2, prefix: "new"), mode: 0o700, uid: 1, gid: 1)
        case "renameFile":
            operation = .rename(fromParent: a, fromName: "f", toParent: b, toName: "f2")
        case "renameDirectory":
            operation = .rename(fromParent: c, fromName: sName, toParent: a, toName: "moved")
        case "renameOverFile":
            operation = .rename(fromParent: a, fromName: "f", toParent: b, toName: "g")
        case "rmdir":
            operation = .rmdir(parent: .root, name: rName)
        case "unlinkMoved":
            await perform(.rename(fromParent: a, fromName: "f", toParent: b, toName: "f2"), routedBy: a)
            operation = .unlink(parent: b, name: "f2")
        case "link":
            operation = .link(target: f, parent: b, name: "hard")
        case "loop":
            operation = .rename(fromParent: .root, fromName: directoryName(in: .root, onShard: 3, prefix: "C"), toParent: s, toName: "x")
        default:
            break
        }
        let routing: InodeID
        switch operation {
        case .mkdir(let parent, _, _, _, _), .rmdir(let parent, _), .unlink(let parent, _), .rename(let parent, _, _, _): routing = parent
        case .link(_, let parent, _): routing = parent
        default: routing = .root
        }
        var violations: [String] = []
        let before = try tree()
        // The reference: the same operation on one shard owning everything.
        var afterReference = reference
        referenceIndex += 1
        _ = afterReference.apply(CommandEnvelope(shardID: 0, sessionID: referenceSession, sequence: referenceIndex,
                                                 time: Timestamp(seconds: Int64(referenceIndex)), operation: operation), at: referenceIndex)
        after = try Self.tree(of: afterReference)
        guard try Self.tree(of: reference) == before else {
            return Outcome(commands: 0, violations: ["the sharded base tree differs from the reference's"])
        }

        primary = shard(routing)
        session = sessions[primary] ?? 0
        sequence = (sequences[primary] ?? 0) + 1
        sequences[primary] = sequence
        let first = shards.apply(operation, on: primary, session: session, sequence: sequence)
        if first.errorCode != .crossShard { violations.append("\(name) is not cross-shard: \(first)") }
        let historyBefore = shards.state.withLock { $0.history.count }
        if let crashAfter { shards.crash(after: crashAfter, losingTheLastAnswer: losingTheLastAnswer) }
        let result = await TransactionCoordinator(transport: shards, logger: Logger(label: "test"), maxAttempts: 2)
            .run(operation, primary: primary, session: SessionRef(id: session, sequence: sequence))
        let commands = shards.state.withLock { $0.history.count } - historyBefore
        shards.recover()
        // The resolver settles what the crash left, with the clock far past the in-doubt bound.
        let resolver = TransactionResolver(coordinator: TransactionCoordinator(transport: shards, logger: Logger(label: "resolver")),
                                           inDoubtAfter: .zero, logger: Logger(label: "resolver"))
        for _ in 0..<3 { _ = await resolver.pass(now: Timestamp(nanoseconds: shards.now.nanoseconds + 10_000_000_000)) }

        let final = try tree()
        if final != before && final != after {
            violations.append("half-done: tree is neither the one before nor the one after\n before \(before)\n after \(after)\n final \(final)")
        }
        if case .success(let outcome) = result, outcome.result.errorCode == nil, final != after, before != after {
            violations.append("acknowledged success but the operation is not visible")
        }
        if let recorded = shards.machine(primary)?.sessionResult(session: session, sequence: sequence), recorded.errorCode == nil,
           final != after, before != after {
            violations.append("the session recorded a result but the operation is not visible")
        }
        if case .success(let outcome) = result, let code = outcome.result.errorCode, final == after, before != after {
            violations.append("answered \(code) but the operation happened")
        }
        violations += lockedOrPrepared()
        violations += invariantViolations()
        return Outcome(commands: commands, violations: violations, answer: try? result.get().result)
    }

    // MARK: - Checkers

    /// Paths -> "d" / "f nlink=N" / "l", walking the namespace across the shards.
    func tree() throws -> [String: String] {
        var result: [String: String] = [:]
        var pending: [(InodeID, String)] = [(.root, "")]
        while let (directory, path) = pending.popLast() {
            guard let machine = shards.machine(shard(directory)) else { throw MetadataError(.enoent, "no shard for \(directory)") }
            let page = try machine.readdir(directory, limit: 4096)
            for entry in page.entries {
                let childPath = path + "/" + entry.name.string
                switch entry.type {
                case .directory:
                    result[childPath] = "d"
                    pending.append((entry.id, childPath))
                case .regular:
                    let nlink = (try? shards.machine(shard(entry.id))?.getattr(entry.id).nlink) ?? 0
                    result[childPath] = "f nlink=\(nlink ?? 0)"
                case .symlink:
                    result[childPath] = "l"
                }
            }
        }
        return result
    }

    static func tree(of machine: MetadataStateMachine) throws -> [String: String] {
        var result: [String: String] = [:]
        var pending: [(InodeID, String)] = [(.root, "")]
        while let (directory, path) = pending.popLast() {
            for entry in try machine.readdir(directory, limit: 4096).entries {
                let childPath = path + "/" + entry.name.string
                switch entry.type {
                case .directory:
                    result[childPath] = "d"
                    pending.append((entry.id, childPath))
                case .regular: result[childPath] = "f nlink=\(try machine.getattr(entry.id).nlink)"
                case .symlink: result[childPath] = "l"
                }
            }
        }
        return result
    }

    func lockedOrPrepared() -> [String] {
        var problems: [String] = []
        for shard in map.shards.keys.sorted() {
            guard let machine = shards.machine(shard) else { continue }
            if !machine.locks.isEmpty { problems.append("shard \(shard) still holds locks \(machine.locks)") }
            if !machine.transactionsInDoubt.isEmpty { problems.append("shard \(shard) still has prepared transactions") }
        }
        return problems
    }

    /// Entries name live records; link counts match the entries naming each inode; a directory's
    /// parent names it; no record is unreachable.
    func invariantViolations() -> [String] {
        var problems: [String] = []
        var references: [InodeID: Int] = [:]
        var reachable: Set<InodeID> = [.root]
        var pending: [InodeID] = [.root]
        while let directory = pending.popLast() {
            guard let machine = shards.machine(shard(directory)), let page = try? machine.readdir(directory, limit: 4096) else {
                problems.append("directory \(directory) cannot be listed")
                continue
            }
            var subdirectories = 0
            for entry in page.entries {
                references[entry.id, default: 0] += 1
                reachable.insert(entry.id)
                guard let owner = shards.machine(shard(entry.id)), let attributes = try? owner.getattr(entry.id) else {
                    problems.append("entry \(entry.name) of \(directory) names a missing inode \(entry.id)")
                    continue
                }
                if attributes.type != entry.type { problems.append("entry \(entry.name) records the wrong type") }
                if entry.type == .directory {
                    subdirectories += 1
                    if owner.directoryParent(entry.id) != directory { problems.append("directory \(entry.id)'s parent is not \(directory)") }
                    pending.append(entry.id)
                }
            }
            if let nlink = try? machine.getattr(directory).nlink, Int(nlink) != 2 + subdirectories {
                problems.append("directory \(directory) has nlink \(nlink) for \(subdirectories) subdirectories")
            }
        }
        for (id, count) in references {
            guard let attributes = try? shards.machine(shard(id))?.getattr(id), attributes.type != .directory else { continue }
            if Int(attributes.nlink) != count { problems.append("inode \(id) has nlink \(attributes.nlink) but \(count) entries") }
        }
        let records = map.shards.keys.reduce(0) { $0 + (shards.machine($1)?.inodeCount ?? 0) }
        if records != reachable.count { problems.append("\(records) records but \(reachable.count) reachable (a leaked or lost record)") }
        return problems
    }
}
