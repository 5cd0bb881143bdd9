/// The highest value seen during the current and the previous tick: a load signal that one quiet
/// instant between two batches does not reset (the inline-sync rule and the request backlog).
struct TickPeak {
    private var current = 0
    private var previous = 0

    /// The peak over the current and the previous tick.
    var value: Int { max(current, previous) }

    /// Records `sample`; true when it raised the current tick's peak.
    @discardableResult
    mutating func note(_ sample: Int) -> Bool {
        guard sample > current else { return false }
        current = sample
        return true
    }

    /// A new tick starts: the current peak becomes the previous one.
    mutating func advance() {
        previous = current
        current = 0
    }
}
