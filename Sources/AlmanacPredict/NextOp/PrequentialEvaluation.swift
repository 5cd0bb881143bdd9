/// Prequential (predict, then learn) evaluation of a next-operation model over a time-ordered event list.
public enum PrequentialEvaluation {
    public struct ThresholdPoint: Sendable, Hashable {
        public var threshold: Double
        /// Issued predictions (confidence >= threshold) that matched the stream's next event / issued.
        public var precision: Double
        /// Events whose (file, op) had been predicted with confidence >= threshold / all scored events.
        public var coverage: Double
        /// Issued predictions per scored event.
        public var issuedPerEvent: Double
        /// Issued predictions whose (file, op) never occurs later in the stream / issued.
        public var waste: Double
        /// Median time from issuing to arrival for issued predictions that matched the next event (microseconds).
        public var medianLeadMicros: Double
    }

    public struct Report: Sendable {
        public var model: String
        /// Events scored for the next (file, op) in the same stream (events with a predecessor in their stream).
        public var streamEvents: Int
        public var streamTop1: Double
        public var streamTop3: Double
        /// Events scored for the next op on the same file (events with an earlier event on that file in the stream).
        public var fileEvents: Int
        public var fileTop1: Double
        public var fileTop3: Double
        public var curve: [ThresholdPoint]
        public var modelBytes: Int

        /// Largest coverage on the curve among thresholds with precision >= `p` (0 if none).
        public func coverage(atPrecision p: Double) -> Double {
            curve.filter { $0.precision >= p && $0.issuedPerEvent > 0 }.map(\.coverage).max() ?? 0
        }

        public func point(_ t: Double) -> ThresholdPoint? { curve.first { abs($0.threshold - t) < 1e-9 } }
    }

    /// Curve thresholds: 0, 0.01, ..., 1.
    public static let thresholds = (0...100).map { Double($0) / 100 }

    public static func evaluate<P: NextOpPredictor>(_ model: inout P, events: [OpEvent], limit: Int = 3) -> Report {
        // Last index at which each (stream, file, op) occurs: a prediction issued at i is waste if none after i.
        var lastIndex: [FileOpInStream: Int] = [:]
        for (i, e) in events.enumerated() { lastIndex[FileOpInStream(stream: e.stream, key: e.key.packed)] = i }
        var pending: [UInt32: (preds: [OpPrediction], time: Int64, index: Int)] = [:]
        var pendingFile: [UInt64: [OpOnFilePrediction]] = [:]
        var n = 0, top1 = 0, top3 = 0, nf = 0, f1 = 0, f3 = 0
        let T = thresholds.count
        var issued = [Int](repeating: 0, count: T), hitIssued = [Int](repeating: 0, count: T)
        var covered = [Int](repeating: 0, count: T), wasted = [Int](repeating: 0, count: T)
        var leads: [[Int64]] = Array(repeating: [], count: T)
        for (i, e) in events.enumerated() {
            if let p = pending[e.stream] {
                n += 1
                let key = e.key
                if p.preds.first?.key == key { top1 += 1 }
                if p.preds.prefix(3).contains(where: { $0.key == key }) { top3 += 1 }
                for (ti, t) in thresholds.enumerated() {
                    var any = false
                    for pr in p.preds where pr.confidence >= t {
                        issued[ti] += 1
                        if pr.key == key { hitIssued[ti] += 1; any = true; leads[ti].append(e.time - p.time) }
                        if (lastIndex[FileOpInStream(stream: e.stream, key: pr.key.packed)] ?? -1) < i { wasted[ti] += 1 }
                    }
                    if any { covered[ti] += 1 }
                }
            }
            let fk = UInt64(e.stream) << 32 | UInt64(e.file)
            if let q = pendingFile[fk] {
                nf += 1
                if q.first?.op == e.op { f1 += 1 }
                if q.prefix(3).contains(where: { $0.op == e.op }) { f3 += 1 }
            }
            model.observe(e)
            pending[e.stream] = (model.predictNext(stream: e.stream, limit: limit), e.time, i)
            pendingFile[fk] = model.predictNextOp(stream: e.stream, file: e.file, limit: 3)
        }
        func ratio(_ a: Int, _ b: Int) -> Double { b > 0 ? Double(a) / Double(b) : 0 }
        let curve = thresholds.enumerated().map { ti, t -> ThresholdPoint in
            let l = leads[ti].sorted()
            return ThresholdPoint(threshold: t, precision: ratio(hitIssued[ti], issued[ti]), coverage: ratio(covered[ti], n),
                                  issuedPerEvent: ratio(issued[ti], n), waste: ratio(wasted[ti], issued[ti]),
                                  medianLeadMicros: l.isEmpty ? 0 : Double(l[l.count / 2]))
        }
        return Report(model: model.name, streamEvents: n, streamTop1: ratio(top1, n), streamTop3: ratio(top3, n),
                      fileEvents: nf, fileTop1: ratio(f1, nf), fileTop3: ratio(f3, nf), curve: curve, modelBytes: model.approximateBytes)
    }

    struct FileOpInStream: Hashable { var stream: UInt32; var key: UInt64 }
}
