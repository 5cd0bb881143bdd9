/// Which directed links are cut, and how the remaining links misbehave.
public struct SimulatedNetwork: Sendable, Hashable {
    /// `blocked[from][to]`: messages on this directed link are lost. Indexed by node slot (id - 1).
    public private(set) var blocked: [[Bool]]
    /// Probability that a message is lost.
    public var dropRate = 0.0
    /// Probability that a message is delivered twice.
    public var duplicateRate = 0.0
    /// Typical one-way latency range, microseconds.
    public var baseLatency: ClosedRange<UInt64> = 200...2_000
    /// Probability of a slow delivery (which also reorders messages).
    public var slowRate = 0.05
    /// Latency range of a slow delivery, microseconds.
    public var slowLatency: ClosedRange<UInt64> = 5_000...60_000

    public init(slots: Int) {
        blocked = Array(repeating: Array(repeating: false, count: slots), count: slots)
    }

    public var slots: Int { blocked.count }

    public func isBlocked(from: Int, to: Int) -> Bool { blocked[from][to] }

    public var isPartitioned: Bool { blocked.contains { $0.contains(true) } }

    public mutating func healAll() {
        for i in blocked.indices { for j in blocked[i].indices { blocked[i][j] = false } }
    }

    /// Cuts every link between `a` and `b`, both directions.
    public mutating func partition(_ a: [Int], _ b: [Int]) {
        for x in a { for y in b { blocked[x][y] = true; blocked[y][x] = true } }
    }

    /// Cuts the links from `senders` to `receivers` only (asymmetric partition).
    public mutating func cutOneWay(from senders: [Int], to receivers: [Int]) {
        for x in senders { for y in receivers where x != y { blocked[x][y] = true } }
    }

    /// A partial partition: `left` and `right` cannot talk, but both still reach `bridge`.
    public mutating func bridge(_ bridge: Int, left: [Int], right: [Int]) {
        partition(left.filter { $0 != bridge }, right.filter { $0 != bridge })
    }

    /// A latency sample: usually in `baseLatency`, sometimes slow.
    public func latency(using random: inout Xoshiro256StarStar) -> UInt64 {
        let range = random.chance(slowRate) ? slowLatency : baseLatency
        return UInt64.random(in: range, using: &random)
    }
}
