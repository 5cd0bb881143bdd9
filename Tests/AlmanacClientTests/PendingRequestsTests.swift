import NIOCore
import Testing

@testable import AlmanacClient

/// The per-connection table of requests in flight and its single timeout timer.
@Suite struct PendingRequestsTests {
    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func at(_ milliseconds: Int64) -> NIODeadline { t0 + .milliseconds(milliseconds) }

    @Test func armsTheTimerOnlyForAnEarlierDeadline() {
        var table = PendingRequests<String>()
        #expect(table.insert(1, waiter: "a", deadline: at(100)) == at(100))
        // Later deadlines are covered by the armed timer: it fires first and re-arms.
        #expect(table.insert(2, waiter: "b", deadline: at(150)) == nil)
        #expect(table.insert(3, waiter: "c", deadline: at(100)) == nil)
        // An earlier deadline (a retry near its operation deadline) must re-arm.
        #expect(table.insert(4, waiter: "d", deadline: at(40)) == at(40))
        #expect(table.armedDeadline == at(40))
        #expect(table.count == 4)
    }

    @Test func expiresOnlyOverdueRequestsAndRearmsForTheEarliestLeft() {
        var table = PendingRequests<String>()
        _ = table.insert(1, waiter: "a", deadline: at(100))
        _ = table.insert(2, waiter: "b", deadline: at(300))
        _ = table.insert(3, waiter: "c", deadline: at(50))
        _ = table.insert(4, waiter: "d", deadline: at(200))
        #expect(table.remove(4) == "d")  // answered in time

        let first = table.expire(now: at(100))
        #expect(first.overdue == ["c", "a"])  // oldest deadline first, a deadline equal to now included
        #expect(first.rearm == at(300))
        #expect(table.armedDeadline == at(300))
        #expect(table.remove(1) == nil)  // a late answer of a timed-out request finds nothing

        // A timer firing early (nothing overdue yet) keeps the remaining requests and re-arms.
        let early = table.expire(now: at(299))
        #expect(early.overdue.isEmpty)
        #expect(early.rearm == at(300))

        let last = table.expire(now: at(301))
        #expect(last.overdue == ["b"])
        #expect(last.rearm == nil)
        #expect(table.isEmpty && table.armedDeadline == nil)
        // The next request arms a fresh timer.
        #expect(table.insert(5, waiter: "e", deadline: at(900)) == at(900))
    }

    @Test func removeAllReturnsEveryWaiterAndDisarms() {
        var table = PendingRequests<Int>()
        for id in 1...5 { _ = table.insert(UInt64(id), waiter: id, deadline: at(Int64(id) * 10)) }
        #expect(table.removeAll().sorted() == [1, 2, 3, 4, 5])
        #expect(table.isEmpty)
        #expect(table.armedDeadline == nil)
        #expect(table.expire(now: at(1000)).overdue.isEmpty)
    }
}
