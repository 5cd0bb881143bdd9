import Foundation

/// An open-loop rate that changes on a schedule (`almanac bench --rate-schedule FILE`): lines of
/// "SECONDS RATE", seconds from the run's start (ascending, the first at 0), the total operations
/// per second from then until the next line; `#` starts a comment. The k-th operation of the run
/// is due when the schedule's cumulative count reaches k, so the load follows the schedule
/// exactly and each latency is measured from its due time (no coordinated omission).
struct BenchRateSchedule: Sendable, Hashable {
    struct Step: Sendable, Hashable {
        var offsetSeconds: Double
        var rate: Double
    }

    let steps: [Step]
    /// Operations due before each step's offset (same indexes as `steps`).
    private let countBefore: [Double]

    init(steps: [Step]) throws(BenchScheduleError) {
        guard let first = steps.first else { throw BenchScheduleError("the rate schedule is empty") }
        guard first.offsetSeconds == 0 else { throw BenchScheduleError("the rate schedule must start at 0 seconds, not \(first.offsetSeconds)") }
        var counts: [Double] = []
        var total = 0.0
        for (index, step) in steps.enumerated() {
            guard step.rate >= 0, step.rate.isFinite, step.offsetSeconds.isFinite else {
                throw BenchScheduleError("line \(index + 1): the rate must be a finite number >= 0")
            }
            if index > 0 {
                let previous = steps[index - 1]
                guard step.offsetSeconds > previous.offsetSeconds else {
                    throw BenchScheduleError("line \(index + 1): offsets must increase (\(step.offsetSeconds) after \(previous.offsetSeconds))")
                }
                total += previous.rate * (step.offsetSeconds - previous.offsetSeconds)
            }
            counts.append(total)
        }
        self.steps = steps
        self.countBefore = counts
    }

    /// Parses the file format above.
    init(parsing text: String) throws(BenchScheduleError) {
        var steps: [Step] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 2, let offset = Double(fields[0]), let rate = Double(fields[1]) else {
                throw BenchScheduleError("line \(number + 1): expected \"SECONDS RATE\", got \"\(line.trimmingCharacters(in: .whitespaces))\"")
            }
            steps.append(Step(offsetSeconds: offset, rate: rate))
        }
        try self.init(steps: steps)
    }

    /// Seconds from the run's start at which operation `number` (0, 1, ...; fractions allowed,
    /// for spreading workers) is due; nil if the schedule ends at rate 0 before it.
    func dueSeconds(ofOperation number: Double) -> Double? {
        // The last step whose count before it is <= number, among steps with a rate.
        var index = steps.count - 1
        while index > 0 && countBefore[index] > number { index -= 1 }
        // Skip forward over steps that end before the operation (only possible at rate 0).
        while index < steps.count {
            let step = steps[index]
            let isLast = index == steps.count - 1
            let capacity = isLast ? Double.infinity : countBefore[index + 1] - countBefore[index]
            if step.rate > 0 && number - countBefore[index] < capacity {
                return step.offsetSeconds + (number - countBefore[index]) / step.rate
            }
            if isLast { return nil }
            index += 1
        }
        return nil
    }
}

/// A malformed rate schedule: what is wrong, and where.
struct BenchScheduleError: Error, CustomStringConvertible, Sendable {
    let description: String
    init(_ description: String) { self.description = description }
}
