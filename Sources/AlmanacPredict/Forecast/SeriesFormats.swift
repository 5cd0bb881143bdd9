import Foundation

/// Parsers for the evaluation data formats. Pure: they take the file text, the caller does the I/O.
public enum SeriesFormats {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case badNumber(line: Int, field: String)
        case badTimestamp(line: Int, field: String)
        case empty
        public var description: String {
            switch self {
            case let .badNumber(line, f): return "line \(line): not a number: \(f)"
            case let .badTimestamp(line, f): return "line \(line): bad timestamp (want YYYY-MM-DD HH:MM:SS): \(f)"
            case .empty: return "no data rows"
            }
        }
    }

    /// One named series.
    public struct Series: Sendable, Hashable {
        public var id: String
        public var values: [Double]
        public init(id: String, values: [Double]) { self.id = id; self.values = values }
    }

    /// M4 wide format: header row, then one row per series: `"id","v1","v2",...` with empty trailing cells.
    public static func parseM4(_ text: String) throws -> [Series] {
        var out: [Series] = []
        for (i, line) in text.split(whereSeparator: \.isNewline).enumerated() where i > 0 {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.replacingOccurrences(of: "\"", with: "") }
            guard let id = cells.first, !id.isEmpty else { continue }
            var values: [Double] = []
            for c in cells.dropFirst() where !c.isEmpty && c != "NA" {
                guard let v = Double(c) else { throw Failure.badNumber(line: i + 1, field: c) }
                values.append(v)
            }
            out.append(Series(id: id, values: values))
        }
        guard !out.isEmpty else { throw Failure.empty }
        return out
    }

    /// CSV `timestamp,value` with a header, timestamps `YYYY-MM-DD HH:MM:SS` (UTC).
    /// Returns (seconds since 1970, value) pairs in file order.
    public static func parseTimestampValueCSV(_ text: String) throws -> [(time: Int64, value: Double)] {
        var out: [(Int64, Double)] = []
        for (i, line) in text.split(whereSeparator: \.isNewline).enumerated() where i > 0 {
            let cells = line.split(separator: ",")
            guard cells.count >= 2 else { continue }
            let ts = String(cells[0]), vs = String(cells[1]).trimmingCharacters(in: .whitespaces)
            guard let v = Double(vs) else { throw Failure.badNumber(line: i + 1, field: vs) }
            guard let t = epochSeconds(ts) else { throw Failure.badTimestamp(line: i + 1, field: ts) }
            out.append((t, v))
        }
        guard !out.isEmpty else { throw Failure.empty }
        return out
    }

    /// Sums (time, value) pairs into consecutive buckets of `width` seconds, from the first bucket to the last
    /// (missing buckets are 0). Incomplete first/last buckets are dropped when `dropPartialEnds`.
    public static func bucketize(_ points: [(time: Int64, value: Double)], width: Int64, dropPartialEnds: Bool = true) -> [Double] {
        bucketizeAligned(points, width: width, dropPartialEnds: dropPartialEnds).values
    }

    /// As `bucketize`, also returning the absolute index (UTC seconds / `width`) of the first returned bucket,
    /// so series with different start times can be aligned on the same wall-clock buckets.
    public static func bucketizeAligned(_ points: [(time: Int64, value: Double)], width: Int64, dropPartialEnds: Bool = true) -> (firstBucket: Int64, values: [Double]) {
        guard width > 0, let t0 = points.map(\.time).min(), let t1 = points.map(\.time).max() else { return (0, []) }
        let b0 = floorDiv(t0, width), b1 = floorDiv(t1, width)
        var sums = Array(repeating: 0.0, count: Int(b1 - b0 + 1))
        for p in points { sums[Int(floorDiv(p.time, width) - b0)] += p.value }
        var first = b0
        if dropPartialEnds, sums.count > 2 {
            if t0 - b0 * width != 0 || points.count < 2 { sums.removeFirst(); first += 1 }
            sums.removeLast()
        }
        return (first, sums)
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Parses `YYYY-MM-DD HH:MM:SS` as UTC seconds since the epoch (proleptic Gregorian).
    public static func epochSeconds(_ s: String) -> Int64? {
        let parts = s.split(whereSeparator: { $0 == " " || $0 == "T" })
        guard parts.count == 2 else { return nil }
        let d = parts[0].split(separator: "-").compactMap { Int64($0) }
        let t = parts[1].split(separator: ":").compactMap { Int64($0) }
        guard d.count == 3, t.count == 3 else { return nil }
        let (y, m, day) = (d[0], d[1], d[2])
        guard (1...12).contains(m), (1...31).contains(day) else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return days * 86400 + t[0] * 3600 + t[1] * 60 + t[2]
    }
}
