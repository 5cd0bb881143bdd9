import AlmanacMetadata
import Testing

@testable import AlmanacServer

@Suite("Prefetching path (pure parts)")
struct PrefetchPlannerTests {
    @Test func parametersAreValidatedWithTypedErrors() throws {
        func make(_ model: String = "markov", threshold: Double = 0.9, queue: Int = 16, zones: Int = 3, cluster: Int = 3)
            throws(PrefetchConfigurationError) -> PrefetchSettings {
            try PrefetchSettings(predictionModelType: model, confidenceThreshold: threshold, prefetchQueueSize: queue,
                                 zoneCount: zones, clusterZones: cluster)
        }
        #expect(try make().enabled)
        #expect(try make("rnn").modelType == .rnn)
        #expect(try !make("none").enabled)
        #expect(try !make(queue: 0).enabled)
        #expect(try make(threshold: 1).confidenceThreshold == 1)
        #expect(throws: PrefetchConfigurationError.unknownModel("lstm")) { try make("lstm") }
        #expect(throws: PrefetchConfigurationError.unknownModel("frequency")) { try make("frequency") }
        #expect(throws: PrefetchConfigurationError.thresholdOutOfRange(0)) { try make(threshold: 0) }
        #expect(throws: PrefetchConfigurationError.thresholdOutOfRange(1.5)) { try make(threshold: 1.5) }
        #expect(throws: PrefetchConfigurationError.negativeQueueSize(-1)) { try make(queue: -1) }
        #expect(throws: PrefetchConfigurationError.tooFewZones(2)) { try make(zones: 2, cluster: 2) }
        #expect(throws: PrefetchConfigurationError.zoneCountMismatch(configured: 4, cluster: 3)) { try make(zones: 4) }
        #expect(PrefetchConfigurationError.tooFewZones(2).description.contains("at least 3"))
    }

    @Test func theQueueIsBoundedAndOrderedByConfidenceThenArrival() {
        func candidate(_ confidence: Double, arrival: Int64, name: String) -> PrefetchCandidate {
            PrefetchCandidate(session: 1, operation: .unlink(parent: .root, name: ByteString(name)), confidence: confidence,
                              expectedArrival: arrival, deadline: arrival + 10)
        }
        var queue = PrefetchQueue(capacity: 3)
        #expect(queue.insert(candidate(0.5, arrival: 1, name: "a")) == nil)
        #expect(queue.insert(candidate(0.9, arrival: 5, name: "b")) == nil)
        #expect(queue.insert(candidate(0.9, arrival: 2, name: "c")) == nil)
        // Full: a worse entry does not get in, a better one evicts the worst.
        #expect(queue.insert(candidate(0.4, arrival: 0, name: "d"))?.operation == .unlink(parent: .root, name: "d"))
        #expect(queue.insert(candidate(0.95, arrival: 9, name: "e"))?.operation == .unlink(parent: .root, name: "a"))
        #expect(queue.dropPassed(now: 14) == 1)  // "b" (deadline 15) stays, "c" (12) goes
        #expect(queue.popFirst()?.operation == .unlink(parent: .root, name: "e"))
        #expect(queue.popFirst()?.operation == .unlink(parent: .root, name: "b"))
        #expect(queue.popFirst() == nil)
        var off = PrefetchQueue(capacity: 0)
        #expect(off.insert(candidate(1, arrival: 0, name: "x")) != nil && off.isEmpty)
    }

    @Test func theModelLearnsOpenThenCloseAndFormsTheCloseWithTheSessionsHandle() throws {
        let settings = try PrefetchSettings(predictionModelType: "markov", confidenceThreshold: 0.5, prefetchQueueSize: 8,
                                            zoneCount: 3, clusterZones: 3)
        var planner = PrefetchPlanner(settings: settings)
        let attributes = InodeAttributes(id: InodeID(7), type: .regular, mode: 0o644, uid: 0, gid: 0, size: 0, nlink: 1,
                                         atime: .zero, mtime: .zero, ctime: .zero, version: 1)
        var time: Int64 = 0
        var lastCandidates: [PrefetchCandidate] = []
        for round in 0..<20 {
            let name = ByteString("f\(round % 4)")
            let open = MetadataOperation.open(parent: .root, name: name, flags: OpenFlags(), mode: 0, uid: 0, gid: 0)
            let handle = HandleID(100 + round)
            time += 1000
            lastCandidates = planner.observe(session: 5, operation: open,
                                             result: .success(.opened(handle: handle, attributes: attributes, created: false)),
                                             nowMicros: time).candidates
            if round >= 8 {
                #expect(lastCandidates.first?.operation == .close(handle: handle), "round \(round): \(lastCandidates)")
                #expect(lastCandidates.first?.session == 5)
            }
            time += 1000
            let afterClose = planner.observe(session: 5, operation: .close(handle: handle), result: .success(.done), nowMicros: time).candidates
            if round >= 8 {
                // The next open in the cycle, formed from the last open seen of that file.
                let next = ByteString("f\((round + 1) % 4)")
                #expect(afterClose.contains { $0.operation == .open(parent: .root, name: next, flags: OpenFlags(), mode: 0, uid: 0, gid: 0) },
                        "round \(round): \(afterClose)")
            }
        }
        #expect(planner.history.count == 40)
        #expect(planner.recent(session: 5).count == 32)
        // Another session has no handle on the file: its close cannot be formed.
        let other = planner.observe(session: 6, operation: .open(parent: .root, name: "f0", flags: OpenFlags(), mode: 0, uid: 0, gid: 0),
                                    result: .failure(MetadataError(.enoent, "x")), nowMicros: time + 10)
        #expect(!other.candidates.contains { if case .close = $0.operation { true } else { false } })
    }
}
