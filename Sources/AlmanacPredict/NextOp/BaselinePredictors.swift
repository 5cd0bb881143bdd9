/// Baseline: the last observed successor of the stream's last (file, op), shared across streams.
/// Confidence is always 1 (the baseline has no notion of confidence).
public struct LastSuccessorPredictor: NextOpPredictor {
    public let bounds: PredictorBounds
    public var name: String { "last-successor" }
    private var successor: BoundedLRUMap<UInt64, UInt64>
    private var sameFileNext: BoundedLRUMap<UInt64, MetadataOp>
    private var streams: BoundedLRUMap<UInt32, StreamContext>

    public init(bounds: PredictorBounds = .init()) {
        self.bounds = bounds
        successor = BoundedLRUMap(capacity: bounds.maxTrackedKeys)
        sameFileNext = BoundedLRUMap(capacity: bounds.maxTrackedKeys)
        streams = BoundedLRUMap(capacity: bounds.maxStreams)
    }

    public func predictNext(stream: UInt32, limit: Int) -> [OpPrediction] {
        guard limit > 0, let last = streams.peek(stream)?.last, let s = successor.peek(last.key.packed) else { return [] }
        let k = FileOp(packed: s)
        return [OpPrediction(file: k.file, op: k.op, confidence: 1, expectedArrivalMicros: 0)]
    }

    public func predictNextOp(stream: UInt32, file: UInt32, limit: Int) -> [OpOnFilePrediction] {
        guard limit > 0, let last = streams.peek(stream)?.lastOpOnFile.peek(file),
              let op = sameFileNext.peek(FileOp(file: file, op: last.op).packed) else { return [] }
        return [OpOnFilePrediction(op: op, confidence: 1)]
    }

    public mutating func observe(_ e: OpEvent) {
        let ctx = streams.peek(e.stream)
        if let last = ctx?.last { successor.set(last.key.packed, e.key.packed) }
        if let prior = ctx?.lastOpOnFile.peek(e.file) { sameFileNext.set(FileOp(file: e.file, op: prior.op).packed, e.op) }
        let files = bounds.filesPerStream
        streams.update(e.stream, make: { StreamContext(filesPerStream: files) }) { c in
            c.previous = c.last
            c.last = e
            c.lastOpOnFile.set(e.file, (e.op, e.time))
        }
    }

    public var approximateBytes: Int {
        (successor.count + sameFileNext.count) * 40 + streams.count * StreamContext.bytes(filesPerStream: bounds.filesPerStream)
    }
}

/// Baseline: a plain frequency table. For each (file, op), undecayed counts of its top-k successors;
/// confidence = count / (total + prior) (prior 0 = the plain table). No order-2 context, no op-type fallback,
/// no calibration.
public struct FrequencyPredictor: NextOpPredictor {
    public let bounds: PredictorBounds
    /// Pseudo-count added to the total (0: plain relative frequency; 1: Laplace-style shrinkage of small counts).
    public let prior: Float
    public var name: String { prior == 0 ? "frequency" : "frequency+\(Int(prior))" }
    private var table: BoundedLRUMap<UInt64, SuccessorCounts>
    private var sameFile: BoundedLRUMap<UInt64, SuccessorCounts>
    private var streams: BoundedLRUMap<UInt32, StreamContext>

    public init(bounds: PredictorBounds = .init(), prior: Float = 0) {
        self.bounds = bounds
        self.prior = Swift.max(0, prior)
        table = BoundedLRUMap(capacity: bounds.maxTrackedKeys)
        sameFile = BoundedLRUMap(capacity: bounds.maxTrackedKeys)
        streams = BoundedLRUMap(capacity: bounds.maxStreams)
    }

    public func predictNext(stream: UInt32, limit: Int) -> [OpPrediction] {
        guard limit > 0, let last = streams.peek(stream)?.last, let c = table.peek(last.key.packed) else { return [] }
        return c.ranked(prior: prior).prefix(limit).map { r in
            let k = FileOp(packed: r.key)
            return OpPrediction(file: k.file, op: k.op, confidence: r.p, expectedArrivalMicros: r.gap)
        }
    }

    public func predictNextOp(stream: UInt32, file: UInt32, limit: Int) -> [OpOnFilePrediction] {
        guard limit > 0, let last = streams.peek(stream)?.lastOpOnFile.peek(file),
              let c = sameFile.peek(FileOp(file: file, op: last.op).packed) else { return [] }
        return c.ranked(prior: 0).prefix(limit).compactMap { r in
            MetadataOp(rawValue: UInt8(r.key)).map { OpOnFilePrediction(op: $0, confidence: r.p) }
        }
    }

    public mutating func observe(_ e: OpEvent) {
        let k = bounds.successorsPerKey
        let ctx = streams.peek(e.stream)
        if let last = ctx?.last {
            let gap = Float(Swift.max(0, e.time - last.time))
            table.update(last.key.packed, make: { SuccessorCounts() }) { $0.record(e.key.packed, gap: gap, k: k, decay: 1) }
        }
        if let prior = ctx?.lastOpOnFile.peek(e.file) {
            sameFile.update(FileOp(file: e.file, op: prior.op).packed, make: { SuccessorCounts() }) {
                $0.record(UInt64(e.op.rawValue), gap: 0, k: k, decay: 1)
            }
        }
        let files = bounds.filesPerStream
        streams.update(e.stream, make: { StreamContext(filesPerStream: files) }) { c in
            c.previous = c.last
            c.last = e
            c.lastOpOnFile.set(e.file, (e.op, e.time))
        }
    }

    public var approximateBytes: Int {
        (table.count + sameFile.count) * (SuccessorCounts.bytes(k: bounds.successorsPerKey) + 24)
            + streams.count * StreamContext.bytes(filesPerStream: bounds.filesPerStream)
    }
}
