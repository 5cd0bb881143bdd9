/// The `markov` successor model.
///
/// Knowledge is shared by all streams (a server-side model sees every client); the context is per stream:
/// - order-1: for each (file, op), its top-k successors (file, op) with decayed counts and the last successor;
/// - order-2: the same keyed by the stream's last two events (used when it has been seen);
/// - an order-1 Markov table over op types, split by whether the successor hits the same file, which
///   predicts (same file, op) pairs for files never seen before (e.g. open -> close);
/// - for the next op on a given file: per (file, op) top-k next ops on that file, falling back to an
///   op-type Markov table.
/// Raw probabilities are count / (total + 1); reported confidences are recalibrated online, per source, number of
/// sources ranking the candidate first, and raw-probability bin, from the model's own past hits (so a 0.9 means
/// about 90% of such guesses came true).
public struct MarkovPredictor: NextOpPredictor {
    public let bounds: PredictorBounds
    /// Per-update decay of successor counts.
    public let decay: Float
    public let useOrder2: Bool
    public var name: String { useOrder2 ? "markov" : "markov-order1" }

    private var order1: BoundedLRUMap<UInt64, SuccessorCounts>
    private var order2: BoundedLRUMap<UInt64, SuccessorCounts>
    private var sameFile: BoundedLRUMap<UInt64, SuccessorCounts>
    private var streams: BoundedLRUMap<UInt32, StreamContext>
    /// [op][nextOp + (sameFile ? 0 : count)] decayed counts, and EWMA gaps for same-file successors.
    private var typeNext: [[Float]]
    private var typeGap: [[Float]]
    /// [op][nextOpOnSameFile] counts.
    private var typeSameFile: [[Float]]
    /// [source * 4 + votes][bin] = (hits, trials) of past raw guesses.
    private var calibration: [[(hits: Float, trials: Float)]]
    static let bins = 20

    enum Source: Int { case order2 = 0, order1 = 1, type = 2 }

    public init(bounds: PredictorBounds = .init(), decay: Float = 0.9, useOrder2: Bool = true) {
        self.bounds = bounds
        self.decay = decay
        self.useOrder2 = useOrder2
        order1 = BoundedLRUMap(capacity: bounds.maxTrackedKeys)
        order2 = BoundedLRUMap(capacity: bounds.maxTrackedKeys)
        sameFile = BoundedLRUMap(capacity: bounds.maxTrackedKeys)
        streams = BoundedLRUMap(capacity: bounds.maxStreams)
        let n = MetadataOp.count
        typeNext = Array(repeating: Array(repeating: 0, count: 2 * n), count: n)
        typeGap = Array(repeating: Array(repeating: 0, count: n), count: n)
        typeSameFile = Array(repeating: Array(repeating: 0, count: n), count: n)
        calibration = Array(repeating: Array(repeating: (0, 0), count: Self.bins), count: 12)
    }

    static func contextKey(_ a: OpEvent, _ b: OpEvent) -> UInt64 {
        (a.key.packed &* 0x9E37_79B9_7F4A_7C15) ^ b.key.packed &+ 0x632B_E59B_D9B4_E019
    }

    struct Raw {
        var key: UInt64; var p: Double; var gap: Double; var source: Source
        /// How many sources rank this candidate first (1...3): agreement is evidence the calibration uses.
        var votes: Int = 0
    }

    /// Uncalibrated candidates for the next event of a stream, merged by max probability.
    func rawCandidates(_ ctx: StreamContext) -> [Raw] {
        guard let last = ctx.last else { return [] }
        var out: [Raw] = []
        func add(_ r: Raw, first: Bool) {
            if let i = out.firstIndex(where: { $0.key == r.key }) {
                let v = out[i].votes + (first ? 1 : 0)
                if r.p > out[i].p { out[i] = r }
                out[i].votes = v
            } else {
                var r = r
                r.votes = first ? 1 : 0
                out.append(r)
            }
        }
        if useOrder2, let prev = ctx.previous, let c = order2.peek(Self.contextKey(prev, last)) {
            for (i, r) in c.ranked(prior: 1).enumerated() { add(Raw(key: r.key, p: r.p, gap: r.gap, source: .order2), first: i == 0) }
        }
        if let c = order1.peek(last.key.packed) {
            for (i, r) in c.ranked(prior: 1).enumerated() { add(Raw(key: r.key, p: r.p, gap: r.gap, source: .order1), first: i == 0) }
        }
        let row = typeNext[Int(last.op.rawValue)]
        let total = row.reduce(0, +)
        if total > 0 {
            let best = (0..<(2 * MetadataOp.count)).max { row[$0] < row[$1] } ?? 0
            for op in MetadataOp.allCases {
                let c = row[Int(op.rawValue)]
                if c > 0 {
                    add(Raw(key: FileOp(file: last.file, op: op).packed, p: Double(c / (total + 1)),
                            gap: Double(typeGap[Int(last.op.rawValue)][Int(op.rawValue)]), source: .type), first: Int(op.rawValue) == best)
                }
            }
        }
        return out
    }

    static func calibrationRow(_ r: Raw) -> Int { r.source.rawValue * 4 + Swift.min(3, r.votes) }

    static func bin(_ p: Double) -> Int { Swift.min(bins - 1, Swift.max(0, Int(p * Double(bins)))) }

    func calibrated(_ r: Raw) -> Double {
        let c = calibration[Self.calibrationRow(r)][Self.bin(r.p)]
        return (Double(c.hits) + 2 * r.p) / (Double(c.trials) + 2)
    }

    public func predictNext(stream: UInt32, limit: Int) -> [OpPrediction] {
        guard limit > 0, let ctx = streams.peek(stream) else { return [] }
        let ranked = rawCandidates(ctx).map { ($0, calibrated($0)) }.sorted { $0.1 > $1.1 }
        return ranked.prefix(limit).map { r, conf in
            let k = FileOp(packed: r.key)
            return OpPrediction(file: k.file, op: k.op, confidence: conf, expectedArrivalMicros: r.gap)
        }
    }

    public func predictNextOp(stream: UInt32, file: UInt32, limit: Int) -> [OpOnFilePrediction] {
        guard limit > 0, let last = streams.peek(stream)?.lastOpOnFile.peek(file) else { return [] }
        var scores = Array(repeating: 0.0, count: MetadataOp.count)
        if let c = sameFile.peek(FileOp(file: file, op: last.op).packed) {
            for r in c.ranked(prior: 1) { scores[Int(r.key)] = Swift.max(scores[Int(r.key)], r.p) }
        }
        let row = typeSameFile[Int(last.op.rawValue)]
        let total = row.reduce(0, +)
        if total > 0 {
            // The type table is the fallback: it only fills ops the file's own history does not rank.
            for i in row.indices where scores[i] == 0 && row[i] > 0 { scores[i] = 0.5 * Double(row[i] / (total + 1)) }
        }
        return scores.enumerated().filter { $0.element > 0 }.sorted { $0.element > $1.element }.prefix(limit).compactMap { i, p in
            MetadataOp(rawValue: UInt8(i)).map { OpOnFilePrediction(op: $0, confidence: p) }
        }
    }

    public mutating func observe(_ e: OpEvent) {
        let k = bounds.successorsPerKey
        let ctx = streams.peek(e.stream) ?? StreamContext(filesPerStream: bounds.filesPerStream)
        // 1. Score our own previous guesses for this stream (online calibration).
        if ctx.last != nil {
            for r in rawCandidates(ctx) {
                let b = Self.bin(r.p)
                let row = Self.calibrationRow(r)
                calibration[row][b].trials += 1
                if r.key == e.key.packed { calibration[row][b].hits += 1 }
            }
        }
        // 2. Learn the transition.
        if let last = ctx.last {
            let gap = Float(Swift.max(0, e.time - last.time))
            let decay = self.decay
            order1.update(last.key.packed, make: { SuccessorCounts() }) { $0.record(e.key.packed, gap: gap, k: k, decay: decay) }
            if useOrder2, let prev = ctx.previous {
                order2.update(Self.contextKey(prev, last), make: { SuccessorCounts() }) { $0.record(e.key.packed, gap: gap, k: k, decay: decay) }
            }
            let o = Int(last.op.rawValue), n = MetadataOp.count
            for j in typeNext[o].indices { typeNext[o][j] *= 0.995 }
            typeNext[o][Int(e.op.rawValue) + (e.file == last.file ? 0 : n)] += 1
            if e.file == last.file { typeGap[o][Int(e.op.rawValue)] += 0.3 * (gap - typeGap[o][Int(e.op.rawValue)]) }
        }
        // 3. Next op on the same file.
        if let prior = ctx.lastOpOnFile.peek(e.file) {
            let gap = Float(Swift.max(0, e.time - prior.time))
            let decay = self.decay
            sameFile.update(FileOp(file: e.file, op: prior.op).packed, make: { SuccessorCounts() }) {
                $0.record(UInt64(e.op.rawValue), gap: gap, k: k, decay: decay)
            }
            typeSameFile[Int(prior.op.rawValue)][Int(e.op.rawValue)] += 1
        }
        // 4. Advance the stream context.
        let files = bounds.filesPerStream
        streams.update(e.stream, make: { StreamContext(filesPerStream: files) }) { c in
            c.previous = c.last
            c.last = e
            c.lastOpOnFile.set(e.file, (e.op, e.time))
        }
    }

    public var approximateBytes: Int {
        let per = SuccessorCounts.bytes(k: bounds.successorsPerKey) + 24
        return (order1.count + order2.count + sameFile.count) * per
            + streams.count * StreamContext.bytes(filesPerStream: bounds.filesPerStream)
            + MetadataOp.count * MetadataOp.count * 4 * 4 + 12 * Self.bins * 8
    }
}
