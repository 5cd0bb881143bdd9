import Testing
@testable import AlmanacMetadata

/// Generates a random but reproducible stream of journal entries against a state machine:
/// several sessions, retries, expiries, bad inputs, and every operation kind.
struct RandomWorkload {
    var rng: SeededGenerator
    var index: UInt64 = 0
    var time = Timestamp(seconds: 1_000)
    var sessions: [(id: SessionID, sequence: SequenceNumber)] = []
    var lastEnvelope: CommandEnvelope?
    let names: [ByteString] = ["a", "b", "c", "d", "e", "f"]
    let shardID: ShardID

    init(seed: UInt64, shardID: ShardID = 0) {
        rng = SeededGenerator(seed: seed)
        self.shardID = shardID
    }

    private mutating func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &rng)] }
    private mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }

    private mutating func name() -> ByteString {
        if chance(3) { return pick(["", ".", "..", "x/y", "n\u{0}", ByteString(String(repeating: "L", count: 256))]) }
        return pick(names)
    }

    /// The next entry and its log index, chosen by looking at `machine`.
    mutating func next(for machine: MetadataStateMachine) -> (CommandEnvelope, UInt64) {
        index += 1
        time.nanoseconds += chance(2) ? 90_000_000_000 : Int64.random(in: 0...2_000_000, using: &rng)
        if sessions.isEmpty || chance(2) {
            sessions.append((index, 0))
            let envelope = CommandEnvelope(shardID: shardID, sessionID: 0, sequence: 0, time: time, operation: .registerSession)
            lastEnvelope = envelope
            return (envelope, index)
        }
        // Retry the previous entry verbatim (a client that lost the answer).
        if let last = lastEnvelope, last.sessionID != 0, chance(5) {
            var retry = last
            retry.time = time
            return (retry, index)
        }
        // Clients of expired sessions mostly notice and stop (a few keep trying).
        if !chance(5) { sessions.removeAll { !machine.hasSession($0.id) && $0.id != index } }
        if sessions.isEmpty {
            sessions.append((index, 0))
            let envelope = CommandEnvelope(shardID: shardID, sessionID: 0, sequence: 0, time: time, operation: .registerSession)
            lastEnvelope = envelope
            return (envelope, index)
        }
        let slot = Int.random(in: 0..<sessions.count, using: &rng)
        sessions[slot].sequence += 1
        let session = sessions[slot]
        let ids = machine.inodes.keys.sorted()
        let dirs = ids.filter { machine.inodes[$0]?.isDirectory == true }
        let nonDirs = ids.filter { machine.inodes[$0]?.isDirectory == false }
        func anyID(_ rng: inout SeededGenerator, _ from: [InodeID]) -> InodeID {
            if from.isEmpty || Int.random(in: 0..<100, using: &rng) < 3 {
                return [InodeID(0), InodeID(999_999), InodeID(segment: 9, counter: 2)][Int.random(in: 0..<3, using: &rng)]
            }
            return from[Int.random(in: 0..<from.count, using: &rng)]
        }
        let mode: UInt32 = chance(3) ? 0o170777 : pick([0o755, 0o644, 0o600, 0o4711])
        let operation: MetadataOperation
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<16: operation = .mkdir(parent: anyID(&rng, dirs), name: name(), mode: mode, uid: 1, gid: 1)
        case 16..<32: operation = .create(parent: anyID(&rng, dirs), name: name(), mode: mode, uid: 2, gid: 2)
        case 32..<40: operation = .unlink(parent: anyID(&rng, dirs), name: name())
        case 40..<47: operation = .rmdir(parent: anyID(&rng, dirs), name: name())
        case 47..<62:
            operation = .rename(fromParent: anyID(&rng, dirs), fromName: name(), toParent: anyID(&rng, dirs), toName: name())
        case 62..<68: operation = .link(target: anyID(&rng, nonDirs), parent: anyID(&rng, dirs), name: name())
        case 68..<72: operation = .symlink(parent: anyID(&rng, dirs), name: name(), target: pick(["a", "../b", "/c/d"]), uid: 0, gid: 0)
        case 72..<82:
            var changes = SetAttributes()
            if chance(50) { changes.mode = mode }
            if chance(30) { changes.size = UInt64.random(in: 0...1 << 20, using: &rng) }
            if chance(20) { changes.uid = 7 }
            if chance(20) { changes.mtime = chance(50) ? .now : .set(Timestamp(seconds: 5)) }
            operation = .setattr(id: anyID(&rng, ids), changes: changes)
        case 82..<90:
            let flags = OpenFlags(
                access: pick([.readOnly, .writeOnly, .readWrite]), create: chance(50), exclusive: chance(20), truncate: chance(20))
            operation = .open(parent: anyID(&rng, dirs), name: name(), flags: flags, mode: mode, uid: 3, gid: 3)
        case 90..<96:
            let handles = machine.handles.keys.sorted()
            operation = .close(handle: handles.isEmpty || chance(10) ? 12_345 : pick(handles))
        case 96..<98: operation = .keepAlive
        default:
            operation = .closeSession
            sessions.remove(at: slot)
        }
        let envelope = CommandEnvelope(
            shardID: shardID, migrationTimestamp: UInt64(index / 100), sessionID: session.id, sequence: session.sequence,
            time: time, operation: operation)
        lastEnvelope = envelope
        return (envelope, index)
    }
}
