@testable import AlmanacRaft

/// Deterministic generator for tests.
struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What one test node has made durable, and what it applied.
struct TestStorage {
    var hardState = HardState()
    var snapshot: Snapshot?
    var entries: [Entry] = []
    /// Applied (index, data) in order; a snapshot resets it to the snapshot's contents marker.
    var applied: [Entry] = []
    var appliedIndex: LogIndex = 0

    mutating func persist(_ rd: Ready) {
        if let snap = rd.snapshot {
            snapshot = snap
            entries.removeAll()
        }
        if let first = rd.entries.first {
            entries.removeAll { $0.index >= first.index }
            entries.append(contentsOf: rd.entries)
        }
        if let hs = rd.hardState { hardState = hs }
    }

    mutating func apply(_ rd: Ready) {
        if let snap = rd.snapshot {
            applied = []
            appliedIndex = snap.metadata.index
        }
        for e in rd.committedEntries {
            precondition(e.index == appliedIndex + 1, "test storage: applying \(e.index) after \(appliedIndex)")
            applied.append(e)
            appliedIndex = e.index
        }
    }

    var initialState: RaftInitialState {
        RaftInitialState(hardState: hardState, snapshot: snapshot, entries: entries, bootstrap: nil)
    }
}

/// A tiny synchronous network: every message is delivered at once, honouring the Ready contract
/// (messages, then persist, then messagesAfterPersist, then apply, then advance).
struct TestNetwork {
    var nodes: [NodeID: RaftNode] = [:]
    var storage: [NodeID: TestStorage] = [:]
    var configs: [NodeID: RaftConfig] = [:]
    var bootstrap: ConfState
    var readStates: [NodeID: [ReadState]] = [:]
    /// Directed links that drop everything: (from, to).
    var cut: Set<[NodeID]> = []
    /// Message types dropped everywhere.
    var dropTypes: Set<MessageType> = []
    /// Every message delivered, in order (for assertions).
    var delivered: [Message] = []
    var seed: UInt64

    init(voters: [NodeID], learners: [NodeID] = [], seed: UInt64 = 1,
         configure: (inout RaftConfig) -> Void = { _ in }) {
        self.seed = seed
        bootstrap = ConfState(voters: voters, learners: learners)
        for id in voters + learners {
            var c = RaftConfig(id: id)
            configure(&c)
            configs[id] = c
            storage[id] = TestStorage()
            nodes[id] = RaftNode(config: c, initialState: RaftInitialState(bootstrap: bootstrap),
                                 random: SplitMix64(seed: seed &* 1000 &+ id))
        }
        stabilize() // persist and apply the bootstrap configuration entries
    }

    /// Adds a node built from an explicit initial state (for constructed logs).
    mutating func setNode(_ id: NodeID, initial: RaftInitialState, configure: (inout RaftConfig) -> Void = { _ in }) {
        var c = RaftConfig(id: id)
        configure(&c)
        configs[id] = c
        var st = TestStorage()
        st.hardState = initial.hardState
        st.entries = initial.entries
        st.snapshot = initial.snapshot
        storage[id] = st
        nodes[id] = RaftNode(config: c, initialState: initial, random: SplitMix64(seed: seed &* 1000 &+ id))
    }

    /// Runs the Ready loop of one node once; returns the messages it emits.
    mutating func drain(_ id: NodeID) -> [Message] {
        guard var node = nodes[id], node.hasReady else { return [] }
        let rd = node.ready()
        var out = rd.messages
        storage[id, default: TestStorage()].persist(rd)
        out += rd.messagesAfterPersist
        storage[id]!.apply(rd)
        readStates[id, default: []] += rd.readStates
        node.advance(rd)
        nodes[id] = node
        return out
    }

    func canDeliver(_ m: Message) -> Bool {
        nodes[m.to] != nil && !cut.contains([m.from, m.to]) && !dropTypes.contains(m.type)
    }

    mutating func deliver(_ messages: [Message]) {
        for m in messages where canDeliver(m) {
            delivered.append(m)
            nodes[m.to]!.step(m)
        }
    }

    /// Delivers messages until no node has work left.
    mutating func stabilize(maxRounds: Int = 1000) {
        for _ in 0..<maxRounds {
            var all: [Message] = []
            for id in nodes.keys.sorted() { all += drain(id) }
            if all.isEmpty && !nodes.values.contains(where: { $0.hasReady }) { return }
            deliver(all)
        }
    }

    mutating func tick(_ id: NodeID, times: Int = 1) {
        for _ in 0..<times { nodes[id]!.tick() }
    }

    /// Ticks every node `times` times, stabilizing after each tick.
    mutating func tickAll(_ times: Int) {
        for _ in 0..<times {
            for id in nodes.keys.sorted() { nodes[id]!.tick() }
            stabilize()
        }
    }

    mutating func campaign(_ id: NodeID) {
        nodes[id]!.campaign()
        stabilize()
    }

    mutating func propose(_ id: NodeID, _ data: [UInt8]) throws(RaftError) {
        try nodes[id]!.propose(data)
        stabilize()
    }

    mutating func isolate(_ id: NodeID) {
        for other in nodes.keys where other != id {
            cut.insert([id, other])
            cut.insert([other, id])
        }
    }

    mutating func cutLink(_ a: NodeID, _ b: NodeID) {
        cut.insert([a, b])
        cut.insert([b, a])
    }

    mutating func heal() { cut = [] }

    /// Recreates a node from its durable storage (crash and restart).
    mutating func restart(_ id: NodeID) {
        let st = storage[id]!
        var initial = st.initialState
        initial.bootstrap = bootstrap
        nodes[id] = RaftNode(config: configs[id]!, initialState: initial, random: SplitMix64(seed: seed &+ 77 &+ id))
        storage[id]!.applied = []
        storage[id]!.appliedIndex = st.snapshot?.metadata.index ?? 0
    }

    func status(_ id: NodeID) -> RaftStatus { nodes[id]!.status }

    /// The leaders of the highest term among live nodes.
    var leaders: [NodeID] { nodes.keys.sorted().filter { nodes[$0]!.status.role == .leader } }

    func appliedData(_ id: NodeID) -> [[UInt8]] {
        storage[id]!.applied.filter { $0.type == .normal && !$0.data.isEmpty }.map(\.data)
    }
}

/// A single node of a fresh cluster whose bootstrap Ready was already carried out
/// (its log holds the bootstrap configuration entries 1...voters.count of term 1).
func freshNode(_ config: RaftConfig, voters: [NodeID], seed: UInt64 = 1) -> RaftNode {
    var node = RaftNode(config: config, initialState: RaftInitialState(bootstrap: ConfState(voters: voters)),
                        random: SplitMix64(seed: seed))
    let rd = node.ready()
    node.advance(rd)
    return node
}

extension Array where Element == UInt8 {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
}
