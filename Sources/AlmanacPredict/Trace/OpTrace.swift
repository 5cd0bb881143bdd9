/// A multi-process trace turned into metadata-operation events: one stream per process, files interned.
public struct OpTrace: Sendable {
    /// Events in time order (ties by stream id).
    public var events: [OpEvent]
    /// File id -> path.
    public var paths: [String]
    /// Unmapped records by reason.
    public var dropped: [String: Int]
    public var collapsedRepeats: Int
    public var skippedLines: Int
    public var syscalls: Int

    /// Builds the trace from per-process strace texts (`pid` names the stream).
    public static func build(processes: [(pid: UInt32, text: String)]) -> OpTrace {
        var ids: [String: UInt32] = [:]
        var paths: [String] = []
        var events: [OpEvent] = []
        var dropped: [String: Int] = [:]
        var collapsed = 0, skipped = 0, syscalls = 0
        for (pid, text) in processes.sorted(by: { $0.pid < $1.pid }) {
            let (records, s) = StraceParser.parse(text)
            skipped += s
            syscalls += records.count
            var mapper = TraceEventMapper()
            for r in records {
                guard let m = mapper.map(r) else { continue }
                let id: UInt32
                if let known = ids[m.path] { id = known } else {
                    id = UInt32(paths.count); ids[m.path] = id; paths.append(m.path)
                }
                events.append(OpEvent(stream: pid, file: id, op: m.op, time: m.time))
            }
            for (k, v) in mapper.dropped { dropped[k, default: 0] += v }
            collapsed += mapper.collapsedRepeats
        }
        let order = events.indices.sorted { a, b in
            events[a].time != events[b].time ? events[a].time < events[b].time : (events[a].stream != events[b].stream ? events[a].stream < events[b].stream : a < b)
        }
        return OpTrace(events: order.map { events[$0] }, paths: paths, dropped: dropped, collapsedRepeats: collapsed, skippedLines: skipped, syscalls: syscalls)
    }

    /// Events per op type.
    public var opMix: [(MetadataOp, Int)] {
        var c = [Int](repeating: 0, count: MetadataOp.count)
        for e in events { c[Int(e.op.rawValue)] += 1 }
        return MetadataOp.allCases.map { ($0, c[Int($0.rawValue)]) }.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
    }
}
