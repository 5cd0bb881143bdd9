/// Per-segment load history: fixed-width time buckets over a sliding window, kept in a ring.
///
/// Memory: `capacity` Float32 counts (4 bytes each) plus a fixed header of about 32 bytes, i.e.
/// `32 + 4 * capacity` bytes of payload per segment (the array's own heap header adds ~32 more).
/// With the default 3 weeks of hourly buckets (504) that is about 2.1 KB per segment.
public struct SegmentLoadSeries: Sendable, Hashable {
    public enum Failure: Error, Equatable { case invalidConfiguration(String) }

    public let bucketWidth: Int64
    public let capacity: Int
    private var counts: [Float]
    /// Index into `counts` of the newest bucket.
    private var head: Int = 0
    /// Bucket number (time / bucketWidth) of the newest bucket, nil before the first record.
    public private(set) var newestBucket: Int64?
    /// Number of buckets currently held (<= capacity).
    public private(set) var count: Int = 0

    /// - Parameters:
    ///   - bucketWidth: bucket width in the caller's time unit (e.g. seconds), > 0.
    ///   - capacity: number of buckets in the sliding window, > 0.
    public init(bucketWidth: Int64, capacity: Int = 504) throws {
        guard bucketWidth > 0 else { throw Failure.invalidConfiguration("bucketWidth must be > 0") }
        guard capacity > 0 else { throw Failure.invalidConfiguration("capacity must be > 0") }
        self.bucketWidth = bucketWidth
        self.capacity = capacity
        self.counts = Array(repeating: 0, count: capacity)
    }

    /// Approximate bytes of state for one segment (payload + header).
    public var approximateBytes: Int { 32 + 4 * capacity }

    /// Adds `amount` of load at `time`. Times older than the window are ignored; times before the newest
    /// bucket but inside the window are added to their bucket; newer times advance the window (zero-filling gaps).
    public mutating func record(time: Int64, amount: Double = 1) {
        let b = time >= 0 ? time / bucketWidth : (time - bucketWidth + 1) / bucketWidth
        guard let newest = newestBucket else {
            newestBucket = b; count = 1; head = 0; counts[0] = Float(amount); return
        }
        if b > newest {
            let steps = b - newest
            let clear = Int(Swift.min(steps, Int64(capacity)))
            for _ in 0..<clear { head = (head + 1) % capacity; counts[head] = 0 }
            newestBucket = b
            count = Int(Swift.min(Int64(capacity), Int64(count) + steps))
            counts[head] += Float(amount)
        } else {
            let back = newest - b
            guard back < Int64(count) else { return }
            let idx = (head - Int(back) % capacity + capacity) % capacity
            counts[idx] += Float(amount)
        }
    }

    /// Advances the window to include `time` without adding load (so idle segments age correctly).
    public mutating func advance(to time: Int64) { record(time: time, amount: 0) }

    /// The held buckets, oldest first.
    public var values: [Double] {
        (0..<count).map { i in Double(counts[(head - (count - 1 - i) + capacity * 2) % capacity]) }
    }
}
