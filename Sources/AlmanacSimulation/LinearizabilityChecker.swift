/// One client operation on the register map, as the client saw it.
public struct KeyValueOperation: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Writes `value` (unique per write) to `key`.
        case write(value: UInt64)
        /// Read `key` and observed `value` (0 is the initial value).
        case read(value: UInt64)
    }

    public var key: Int
    public var kind: Kind
    /// When the client invoked the operation (simulated microseconds).
    public var invoked: UInt64
    /// When the client got the response; nil when it never learned the outcome (the write may or
    /// may not have happened). Reads without a response must not be recorded.
    public var completed: UInt64?

    public init(key: Int, kind: Kind, invoked: UInt64, completed: UInt64?) {
        self.key = key
        self.kind = kind
        self.invoked = invoked
        self.completed = completed
    }
}

/// Checks a history of register reads and writes for linearizability, per key (registers compose).
///
/// Two exact algorithms: when every write to a key has a distinct value (the simulator's case: write
/// values are operation ids), the zone test of Gibbons & Korach ("Testing shared memories", 1997),
/// which is near-linear; otherwise the Wing & Gong search with Lowe's memoization of
/// (linearized set, state) pairs, as in Porcupine. The search is exponential in the worst case (a few
/// dozen long-running concurrent writes exhaust its budget), hence the zone test. Both are unit-tested
/// on hand-made histories and against each other on random ones.
public enum LinearizabilityChecker {
    public enum Outcome: Sendable, Hashable {
        case linearizable
        /// No linearization exists for the operations on `key`.
        case notLinearizable(key: Int)
        /// The search for `key` exceeded `stateBudget` memoized states without a verdict.
        case inconclusive(key: Int)
    }

    public static func check(_ history: [KeyValueOperation], initialValue: UInt64 = 0,
                             stateBudget: Int = 2_000_000) -> Outcome {
        var byKey: [Int: [KeyValueOperation]] = [:]
        for op in history { byKey[op.key, default: []].append(op) }
        for key in byKey.keys.sorted() {
            guard let ops = byKey[key] else { continue }
            let verdict = checkByZones(ops, initialValue: initialValue)
                ?? checkRegister(ops, initialValue: initialValue, stateBudget: stateBudget)
            switch verdict {
            case true?: continue
            case false?: return .notLinearizable(key: key)
            case nil: return .inconclusive(key: key)
            }
        }
        return .linearizable
    }

    /// Gibbons & Korach's test for one register whose writes all have distinct values; nil when
    /// values repeat (use the search). Each write and the reads returning its value form a cluster
    /// that a linearization must keep contiguous. A cluster whose earliest response precedes its
    /// latest invocation has a *forward zone* (earliest response, latest invocation) that it must
    /// occupy; otherwise a *backward zone* [latest invocation, earliest response] where it may sit.
    /// Linearizable iff no read ends before its write begins, no two forward zones overlap, and no
    /// backward zone lies strictly inside a forward zone. Writes of unknown outcome that nobody read
    /// may be dropped; those that were read end at infinity.
    static func checkByZones(_ ops: [KeyValueOperation], initialValue: UInt64) -> Bool? {
        struct Cluster { var minResponse: UInt64; var maxInvocation: UInt64; var hasWrite: Bool }
        // Times shift by one so that the initial value's virtual write, at time 0, strictly precedes
        // every operation (an operation at time 0 would otherwise touch it and count as concurrent).
        let ops = ops.map { op -> KeyValueOperation in
            var shifted = op
            shifted.invoked = op.invoked == UInt64.max ? op.invoked : op.invoked + 1
            shifted.completed = op.completed.map { $0 == UInt64.max ? $0 : $0 + 1 }
            return shifted
        }
        var clusters: [UInt64: Cluster] = [initialValue: Cluster(minResponse: 0, maxInvocation: 0, hasWrite: true)]
        var readValues = Set<UInt64>()
        for op in ops { if case .read(let v) = op.kind { readValues.insert(v) } }
        for op in ops {
            guard case .write(let v) = op.kind else { continue }
            if clusters[v] != nil { return nil }  // repeated value (or the initial one): no read-mapping
            if op.completed == nil && !readValues.contains(v) { continue }  // may never have happened
            clusters[v] = Cluster(minResponse: op.completed ?? UInt64.max, maxInvocation: op.invoked, hasWrite: true)
        }
        var writeInvocation: [UInt64: UInt64] = [initialValue: 0]
        for op in ops { if case .write(let v) = op.kind { writeInvocation[v] = op.invoked } }
        for op in ops {
            guard case .read(let v) = op.kind else { continue }
            guard var cluster = clusters[v], let completed = op.completed,
                  let invokedWrite = writeInvocation[v], completed >= invokedWrite else { return false }
            cluster.minResponse = min(cluster.minResponse, completed)
            cluster.maxInvocation = max(cluster.maxInvocation, op.invoked)
            clusters[v] = cluster
        }
        var forward: [(low: UInt64, high: UInt64)] = []
        var backward: [(low: UInt64, high: UInt64)] = []
        for cluster in clusters.values {
            if cluster.minResponse < cluster.maxInvocation {
                forward.append((cluster.minResponse, cluster.maxInvocation))
            } else {
                backward.append((cluster.maxInvocation, cluster.minResponse))
            }
        }
        forward.sort { $0.low < $1.low }
        for i in forward.indices.dropFirst() where forward[i].low < forward[i - 1].high { return false }
        for zone in backward {
            // The forward zone starting last before `zone.low` is the only one that could contain it.
            var lo = 0, hi = forward.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if forward[mid].low < zone.low { lo = mid + 1 } else { hi = mid }
            }
            if lo > 0 && zone.high < forward[lo - 1].high { return false }
        }
        return true
    }

    private struct Memo: Hashable {
        var linearized: [UInt64]
        var state: UInt64
    }

    /// nil when the budget ran out.
    static func checkRegister(_ ops: [KeyValueOperation], initialValue: UInt64, stateBudget: Int) -> Bool? {
        let n = ops.count
        if n == 0 { return true }
        // Node 0 is the head sentinel; node 1 + 2i is the call of op i, node 2 + 2i its return.
        struct Event { var time: UInt64; var isReturn: Bool; var node: Int }
        var events: [Event] = []
        events.reserveCapacity(2 * n)
        for (i, op) in ops.enumerated() {
            events.append(Event(time: op.invoked, isReturn: false, node: 1 + 2 * i))
            events.append(Event(time: op.completed ?? UInt64.max, isReturn: true, node: 2 + 2 * i))
        }
        // Calls sort before returns at equal times: touching operations count as concurrent.
        events.sort { a, b in
            if a.time != b.time { return a.time < b.time }
            if a.isReturn != b.isReturn { return !a.isReturn }
            return a.node < b.node
        }
        let nodeCount = 2 * n + 1
        var next = [Int](repeating: -1, count: nodeCount)
        var prev = [Int](repeating: -1, count: nodeCount)
        var last = 0
        for e in events {
            next[last] = e.node
            prev[e.node] = last
            last = e.node
        }

        func lift(_ call: Int) {
            for node in [call, call + 1] {
                next[prev[node]] = next[node]
                if next[node] >= 0 { prev[next[node]] = prev[node] }
            }
        }
        func unlift(_ call: Int) {
            for node in [call + 1, call] {
                if next[node] >= 0 { prev[next[node]] = node }
                next[prev[node]] = node
            }
        }

        var state = initialValue
        var linearized = [UInt64](repeating: 0, count: (n + 63) / 64)
        var memo = Set<Memo>()
        var stack: [(call: Int, state: UInt64)] = []
        var entry = next[0]
        while next[0] >= 0 {
            guard entry >= 0 else { return false }
            let isCall = entry % 2 == 1
            if isCall {
                let opIndex = (entry - 1) / 2
                let op = ops[opIndex]
                var ok = true
                var newState = state
                switch op.kind {
                case .write(let v): newState = v
                case .read(let v): ok = v == state
                }
                if ok {
                    linearized[opIndex / 64] |= 1 << UInt64(opIndex % 64)
                    if memo.insert(Memo(linearized: linearized, state: newState)).inserted {
                        if memo.count > stateBudget { return nil }
                        stack.append((entry, state))
                        state = newState
                        lift(entry)
                        entry = next[0]
                        continue
                    }
                    linearized[opIndex / 64] &= ~(1 << UInt64(opIndex % 64))
                }
                entry = next[entry]
            } else {
                // A return whose call is not linearized yet: undo the last choice.
                guard let top = stack.popLast() else { return false }
                let opIndex = (top.call - 1) / 2
                state = top.state
                linearized[opIndex / 64] &= ~(1 << UInt64(opIndex % 64))
                unlift(top.call)
                entry = next[top.call]
            }
        }
        return true
    }
}
