import Glibc
import Foundation
import Histogram
import Testing

@testable import almanac

@Suite struct BenchWorkloadTests {
    @Test func presetsParseByName() throws {
        for preset in BenchMix.presets {
            #expect(try BenchMix.parse(preset.name) == preset)
        }
    }

    @Test func customMixParsesAndDropsZeroWeights() throws {
        let mix = try BenchMix.parse("create=3, getattr=1,unlink=0")
        #expect(mix.weights.map(\.operation) == [.create, .getattr])
        #expect(mix.totalWeight == 4)
        #expect(mix.needsPopulatedFiles)
        #expect(!BenchMix.create.needsPopulatedFiles)
    }

    @Test(arguments: ["", "nonsense", "create=", "create=-1", "create=1,create=2", "frobnicate=1", "create=0"])
    func badMixesAreRejected(_ text: String) {
        #expect(throws: BenchMixError.self) { try BenchMix.parse(text) }
    }

    @Test func drawsMapToOperationsInProportion() throws {
        let mix = try BenchMix.parse("create=3,getattr=1")
        #expect((0..<3).map { mix.operation(forDraw: $0) } == [.create, .create, .create])
        #expect(mix.operation(forDraw: 3) == .getattr)
        var counts: [BenchOperation: Int] = [:]
        var random = SplitMix64(seed: 7)
        for _ in 0..<40_000 { counts[mix.operation(forDraw: Int(random.next() % UInt64(mix.totalWeight))), default: 0] += 1 }
        let share = Double(counts[.create] ?? 0) / 40_000
        #expect(abs(share - 0.75) < 0.02)
    }

    @Test func mixedPersonalitySumsToOneThousandPerMille() {
        #expect(BenchMix.mixed.totalWeight == 1000)
        #expect(BenchMix.mixed.weights.filter { $0.operation.isWrite }.reduce(0) { $0 + $1.weight } == 56)
    }

    @Test func namesHaveTheRequestedLengthAndAreUnique() {
        let names = BenchNames(length: 255, worker: 12)
        let a = names.name(1), b = names.name(2)
        #expect(a.utf8.count == 255 && b.utf8.count == 255)
        #expect(a != b)
        #expect(BenchNames(length: 255, worker: 1).name(23) != BenchNames(length: 255, worker: 12).name(3))
        #expect(BenchNames(length: 4, worker: 3).name(12345) == "w3-12345-")  // never truncated into a collision
        #expect(BenchNames(length: 999, worker: 0).length == 255)
        #expect(BenchNames(length: 12, worker: 5).name(7) == "w5-7-xxxxxxx")
        #expect(BenchNames(length: 6, worker: 5).name(77) == "w5-77-")
        #expect(BenchNames(length: 1, worker: 0).name(0) == "w0-0-")
    }

    @Test func procStatParsingSurvivesOddCommandNames() {
        let line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 4 0 12345 0 0"
        let fields = ProcessCPU.parseStat(line)
        #expect(fields?.utime == 250)
        #expect(fields?.stime == 75)
        #expect(ProcessCPU.parseStat("garbage") == nil)
    }

    @Test func ownProcessCPUIsReadable() {
        #expect(ProcessCPU.seconds(of: [getpid()]) != nil)
        #expect(ProcessCPU.seconds(of: [Int32.max]) == nil)
    }

    @Test func contextSwitchesAreBothKindsOfEveryThread() throws {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n"
        #expect(ProcessContextSwitches.switches(inStatus: status) == 127)
        #expect(ProcessContextSwitches.switches(inStatus: "Name:\tx\n") == 0)
        // This process: its threads' counts only grow, and a process that is gone reads as nil.
        let before = try #require(ProcessContextSwitches.count(of: [getpid()]))
        usleep(2_000)
        let after = try #require(ProcessContextSwitches.count(of: [getpid()]))
        #expect(after > before)
        #expect(ProcessContextSwitches.count(of: [Int32.max]) == nil)
    }

    @Test func summaryPercentilesComeFromTheHistogram() throws {
        var latencies = BenchLatencies()
        for value in 1...1000 { latencies.record(.create, microseconds: UInt64(value) * 10) }
        latencies.recordError("EEXIST")
        var other = BenchLatencies()
        other.record(.getattr, microseconds: 20_000)
        other.recordError("EEXIST")
        latencies.merge(other)
        let summary = LatencySummary(latencies.all)
        #expect(summary.ops == 1001)
        #expect(abs(summary.p50_ms - 5.0) < 0.03)  // 3 significant digits + the 1001st sample
        #expect(abs(summary.p99_ms - 9.9) < 0.05)
        #expect(abs(summary.max_ms - 20.0) < 0.03)
        #expect(latencies.errors == ["EEXIST": 2])
        #expect(latencies.byOperation[.getattr]?.totalCount == 1)
    }
}

@Suite struct BenchReportTests {
    @Test func jsonLineUsesPeerloadCompatibleKeys() throws {
        let configuration = BenchConfiguration(
            endpoints: ["127.0.0.1:1"], clients: 16, connections: 8, rate: 0, mix: .create, duration: 2, warmup: 0,
            nameBytes: 255, filesPerClient: 0, durability: "majority", consistency: "linearizable", label: "t", seed: 1)
        var latencies = BenchLatencies()
        for _ in 0..<10 { latencies.record(.create, microseconds: 1500) }
        var report = BenchReport(configuration: configuration, latencies: latencies, windowSeconds: 2, loaderCPUCores: 0.5)
        report.server_cpu_s = 0.04
        report.server_cpu_s_per_1000_ops = 4
        let line = try report.jsonLine()
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["ops_s"] as? Double == 5)
        #expect(object["clients"] as? Int == 16)
        #expect(object["mode"] as? String == "closed")
        #expect(abs((object["p50_ms"] as? Double ?? 0) - 1.5) < 0.01)
        #expect(object["server_cpu_s_per_1000_ops"] as? Double == 4)
        #expect(report.text.contains("create"))
    }

    @Test("symlink targets have the asked length, bounded by the 4096-byte limit; symlinks need no populated files")
    func symlinkTargets() throws {
        #expect(BenchSymlinkTarget(length: 4000, worker: 7).text.utf8.count == 4000)
        #expect(BenchSymlinkTarget(length: 4000, worker: 7).text.hasPrefix("/w7/t"))
        #expect(BenchSymlinkTarget(length: 99_999, worker: 1).text.utf8.count == 4096)
        #expect(BenchSymlinkTarget(length: 2, worker: 123).text == "/w")
        #expect(BenchSymlinkTarget(length: 0, worker: 0).text.utf8.count == 1)
        #expect(BenchOperation.symlink.isWrite)
        #expect(try !BenchMix.parse("symlink=1").needsPopulatedFiles)
        #expect(try BenchMix.parse("symlink=1,getattr=1").needsPopulatedFiles)
    }
}
