import Foundation

/// The `rnn` model: a small GRU over per-stream event tokens, in plain Swift.
///
/// Token of an event = (op, relation of its file to the stream's previous two events: same as the last,
/// same as the one before, or other), 3 * 12 = 36 classes, one-hot input. The GRU (hidden size `hidden`)
/// predicts the next token's class with a softmax. Classes map back to (file, op): "same as last/previous" name
/// the file directly; "other" uses the last observed successor file of the stream's last (file, op), if its op
/// matches (a small last-successor memory). Training is online SGD with truncated back-propagation (one step),
/// plus a replay epoch over the request-history ring buffer every `replayEvery` events (periodic batches).
/// The next-op-on-same-file query uses an op-type Markov table (the GRU does not model it).
public struct GRUPredictor: NextOpPredictor {
    public let bounds: PredictorBounds
    public let hidden: Int
    public let learningRate: Float
    public let replayEvery: Int
    public var name: String { "rnn-gru\(hidden)" }

    static let opCount = MetadataOp.count
    static let classes = 3 * MetadataOp.count

    /// Weights: gates z, r, n each have input weights [H x C] (one-hot input selects a column) and recurrent [H x H].
    private var wx: [[Float]]   // 3 x (H*C), row-major per gate: [h * C + c]
    private var wh: [[Float]]   // 3 x (H*H)
    private var b: [[Float]]    // 3 x H
    private var wo: [Float]     // C x H
    private var bo: [Float]     // C

    struct StreamState: Sendable {
        var h: [Float]
        var hPrev: [Float]
        var lastClass: Int = -1
        var last: OpEvent?
        var previous: OpEvent?
    }
    private var streams: BoundedLRUMap<UInt32, StreamState>
    private var successorFile: BoundedLRUMap<UInt64, UInt64>
    private var typeSameFile: [[Float]]
    private var lastOpOnFile: BoundedLRUMap<UInt64, MetadataOp>
    private var history: RequestHistory
    private var sinceReplay = 0

    public init(bounds: PredictorBounds = .init(), hidden: Int = 24, learningRate: Float = 0.05, replayEvery: Int = 2048, historyCapacity: Int = 2048, seed: UInt64 = 42) {
        self.bounds = bounds
        self.hidden = Swift.max(4, hidden)
        self.learningRate = learningRate
        self.replayEvery = Swift.max(0, replayEvery)
        let H = self.hidden, C = Self.classes
        var rng = seed
        func rand(_ scale: Float) -> Float {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(rng >> 40) / Float(1 << 24) - 0.5) * 2 * scale
        }
        let sx = 1 / Float(C).squareRoot(), sh = 1 / Float(H).squareRoot()
        wx = (0..<3).map { _ in (0..<(H * C)).map { _ in rand(sx) } }
        wh = (0..<3).map { _ in (0..<(H * H)).map { _ in rand(sh) } }
        b = Array(repeating: Array(repeating: 0, count: H), count: 3)
        wo = (0..<(C * H)).map { _ in rand(sh) }
        bo = Array(repeating: 0, count: C)
        streams = BoundedLRUMap(capacity: bounds.maxStreams)
        successorFile = BoundedLRUMap(capacity: bounds.maxTrackedKeys)
        lastOpOnFile = BoundedLRUMap(capacity: bounds.maxTrackedKeys)
        typeSameFile = Array(repeating: Array(repeating: 0, count: Self.opCount), count: Self.opCount)
        history = RequestHistory(capacity: historyCapacity)
    }

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    /// Token class of `e` given the stream's last two events.
    static func tokenClass(_ e: OpEvent, last: OpEvent?, previous: OpEvent?) -> Int {
        let rel = e.file == last?.file ? 0 : (e.file == previous?.file ? 1 : 2)
        return rel * opCount + Int(e.op.rawValue)
    }

    /// One GRU step; returns (h, z, r, n).
    func step(_ x: Int, _ hp: [Float]) -> ([Float], [Float], [Float], [Float]) {
        let H = hidden, C = Self.classes
        var z = [Float](repeating: 0, count: H), r = z, n = z, h = z
        for i in 0..<H {
            var az = b[0][i] + wx[0][i * C + x], ar = b[1][i] + wx[1][i * C + x]
            for j in 0..<H { az += wh[0][i * H + j] * hp[j]; ar += wh[1][i * H + j] * hp[j] }
            z[i] = Self.sigmoid(az); r[i] = Self.sigmoid(ar)
        }
        for i in 0..<H {
            var an = b[2][i] + wx[2][i * C + x]
            for j in 0..<H { an += wh[2][i * H + j] * (r[j] * hp[j]) }
            n[i] = tanh(an)
            h[i] = (1 - z[i]) * n[i] + z[i] * hp[i]
        }
        return (h, z, r, n)
    }

    func softmax(_ h: [Float]) -> [Float] {
        let H = hidden, C = Self.classes
        var logits = bo
        for c in 0..<C { for j in 0..<H { logits[c] += wo[c * H + j] * h[j] } }
        let m = logits.max() ?? 0
        var s: Float = 0
        for c in 0..<C { logits[c] = exp(logits[c] - m); s += logits[c] }
        return logits.map { $0 / s }
    }

    /// Online update for target class `y` at a stream whose last step was (x = lastClass, hPrev -> h).
    mutating func train(_ st: StreamState, target y: Int) {
        guard st.lastClass >= 0 else { return }
        let H = hidden, C = Self.classes, lr = learningRate
        let (h, z, r, n) = step(st.lastClass, st.hPrev)
        let p = softmax(h)
        var dh = [Float](repeating: 0, count: H)
        for c in 0..<C {
            let g = p[c] - (c == y ? 1 : 0)
            if abs(g) < 1e-6 { continue }
            for j in 0..<H { dh[j] += wo[c * H + j] * g; wo[c * H + j] -= lr * g * h[j] }
            bo[c] -= lr * g
        }
        let hp = st.hPrev, x = st.lastClass
        var dan = [Float](repeating: 0, count: H), daz = dan, dar = dan
        for i in 0..<H {
            let d = Swift.max(-1, Swift.min(1, dh[i]))
            dan[i] = d * (1 - z[i]) * (1 - n[i] * n[i])
            daz[i] = d * (hp[i] - n[i]) * z[i] * (1 - z[i])
        }
        var drh = [Float](repeating: 0, count: H)
        for i in 0..<H { for j in 0..<H { drh[j] += wh[2][i * H + j] * dan[i] } }
        for j in 0..<H { dar[j] = drh[j] * hp[j] * r[j] * (1 - r[j]) }
        for i in 0..<H {
            wx[0][i * C + x] -= lr * daz[i]; wx[1][i * C + x] -= lr * dar[i]; wx[2][i * C + x] -= lr * dan[i]
            b[0][i] -= lr * daz[i]; b[1][i] -= lr * dar[i]; b[2][i] -= lr * dan[i]
            for j in 0..<H {
                wh[0][i * H + j] -= lr * daz[i] * hp[j]
                wh[1][i * H + j] -= lr * dar[i] * hp[j]
                wh[2][i * H + j] -= lr * dan[i] * r[j] * hp[j]
            }
        }
    }

    /// Trains on `e` and advances the stream state.
    mutating func learn(_ st: inout StreamState, _ e: OpEvent) {
        let y = Self.tokenClass(e, last: st.last, previous: st.previous)
        train(st, target: y)
        st.hPrev = st.h
        st.h = step(y, st.h).0
        st.lastClass = y
        st.previous = st.last
        st.last = e
    }

    func freshState() -> StreamState {
        StreamState(h: Array(repeating: 0, count: hidden), hPrev: Array(repeating: 0, count: hidden))
    }

    public mutating func observe(_ e: OpEvent) {
        var st = streams.peek(e.stream) ?? freshState()
        if let last = st.last { successorFile.set(last.key.packed, UInt64(e.file)) }
        if let prior = lastOpOnFile.peek(UInt64(e.stream) << 32 | UInt64(e.file)) {
            typeSameFile[Int(prior.rawValue)][Int(e.op.rawValue)] += 1
        }
        lastOpOnFile.set(UInt64(e.stream) << 32 | UInt64(e.file), e.op)
        learn(&st, e)
        streams.set(e.stream, st)
        history.append(e)
        sinceReplay += 1
        if replayEvery > 0, sinceReplay >= replayEvery {
            sinceReplay = 0
            var replay: [UInt32: StreamState] = [:]
            for old in history.events {
                var s = replay[old.stream] ?? freshState()
                learn(&s, old)
                replay[old.stream] = s
            }
        }
    }

    public func predictNext(stream: UInt32, limit: Int) -> [OpPrediction] {
        guard limit > 0, let st = streams.peek(stream), let last = st.last else { return [] }
        let p = softmax(st.h)
        var out: [OpPrediction] = []
        let other = successorFile.peek(last.key.packed).map { UInt32(truncatingIfNeeded: $0) }
        for c in 0..<Self.classes {
            guard let op = MetadataOp(rawValue: UInt8(c % Self.opCount)) else { continue }
            let file: UInt32?
            switch c / Self.opCount {
            case 0: file = last.file
            case 1: file = st.previous?.file
            default: file = other.flatMap { $0 != last.file && $0 != st.previous?.file ? $0 : nil }
            }
            if let file { out.append(OpPrediction(file: file, op: op, confidence: Double(p[c]), expectedArrivalMicros: 0)) }
        }
        return Array(out.sorted { $0.confidence > $1.confidence }.prefix(limit))
    }

    public func predictNextOp(stream: UInt32, file: UInt32, limit: Int) -> [OpOnFilePrediction] {
        guard limit > 0, let op = lastOpOnFile.peek(UInt64(stream) << 32 | UInt64(file)) else { return [] }
        let row = typeSameFile[Int(op.rawValue)]
        let total = row.reduce(0, +)
        guard total > 0 else { return [] }
        return row.enumerated().filter { $0.element > 0 }.sorted { $0.element > $1.element }.prefix(limit).compactMap { i, c in
            MetadataOp(rawValue: UInt8(i)).map { OpOnFilePrediction(op: $0, confidence: Double(c / total)) }
        }
    }

    public var approximateBytes: Int {
        let H = hidden, C = Self.classes
        let weights = 4 * (3 * H * C + 3 * H * H + 3 * H + C * H + C)
        return weights + streams.count * (8 * H + 80) + (successorFile.count + lastOpOnFile.count) * 40 + history.approximateBytes
    }
}
