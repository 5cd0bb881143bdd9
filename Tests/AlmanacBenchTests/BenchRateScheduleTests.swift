import Testing

@testable import almanac

/// `--rate-schedule`: the k-th operation is due when the schedule's cumulative count reaches k.
@Suite struct BenchRateScheduleTests {
    @Test func operationsAreDueWhereTheCumulativeCountReachesThem() throws {
        let schedule = try BenchRateSchedule(parsing: """
            # seconds rate
            0 10
            2 0      # a pause
            3 100
            """)
        #expect(schedule.dueSeconds(ofOperation: 0) == 0)
        #expect(schedule.dueSeconds(ofOperation: 5) == 0.5)
        #expect(schedule.dueSeconds(ofOperation: 19.5) == 1.95)
        // 20 operations in the first 2 s, none in the pause, then 100/s from 3 s.
        #expect(schedule.dueSeconds(ofOperation: 20) == 3)
        #expect(schedule.dueSeconds(ofOperation: 70) == 3.5)
    }

    @Test func aFixedRateIsAOneStepSchedule() throws {
        let schedule = try BenchRateSchedule(steps: [.init(offsetSeconds: 0, rate: 4)])
        // Workers k * workers + index: the old fixed-interval schedule, index / rate apart.
        #expect(schedule.dueSeconds(ofOperation: 1) == 0.25)
        #expect(schedule.dueSeconds(ofOperation: 400) == 100)
    }

    @Test func aScheduleEndingAtRateZeroHasNoLaterOperations() throws {
        let schedule = try BenchRateSchedule(parsing: "0 2\n1 0\n")
        #expect(schedule.dueSeconds(ofOperation: 1.5) == 0.75)
        #expect(schedule.dueSeconds(ofOperation: 2) == nil)
    }

    @Test(arguments: [
        ("", "empty"),
        ("1 10\n", "start at 0"),
        ("0 10\n0 5\n", "offsets must increase"),
        ("0 -1\n", "finite number >= 0"),
        ("0 ten\n", "expected \"SECONDS RATE\""),
        ("0 1 2\n", "expected \"SECONDS RATE\""),
    ])
    func malformedSchedulesAreRefusedWithTheirLine(text: String, message: String) {
        #expect {
            _ = try BenchRateSchedule(parsing: text)
        } throws: { error in
            (error as? BenchScheduleError)?.description.contains(message) == true
        }
    }
}
