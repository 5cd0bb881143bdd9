import Glibc
import AlmanacServer
import AlmanacServerTestSupport
import Logging
import Testing

@testable import almanac

/// `BenchRunner` end to end through AlmanacClient against a real API server (over the in-process
/// metadata test double, so no replication): every operation of every mix must succeed.
@Suite struct BenchRunnerTests {
    private func withServer(_ body: (String) async throws -> Void) async throws {
        var logger = Logger(label: "almanac.bench.test")
        logger.logLevel = .warning
        let server = try await APIServer.start(
            service: InProcessMetadataService(), configuration: APIServerConfiguration(), logger: logger)
        do {
            try await body(server.endpoint)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    private func configuration(_ endpoint: String, mix: BenchMix, clients: Int, rate: Double = 0) -> BenchConfiguration {
        BenchConfiguration(
            endpoints: [endpoint], clients: clients, connections: min(clients, 3), rate: rate, mix: mix, duration: 0.4,
            warmup: 0.1, nameBytes: 255, filesPerClient: 5, durability: "majority", consistency: "linearizable",
            label: "test", seed: 3, cpuPids: [getpid()], timeoutMilliseconds: 5_000)
    }

    @Test(arguments: BenchMix.presets)
    func everyMixRunsWithoutErrors(_ mix: BenchMix) async throws {
        try await withServer { endpoint in
            let report = try await BenchRunner(configuration: configuration(endpoint, mix: mix, clients: 4), showProgress: false).run()
            #expect(report.errors == 0, "errors: \(report.error_kinds)")
            #expect(report.ops > 0)
            #expect(report.p50_ms > 0 && report.p50_ms <= report.p99_ms && report.p99_ms <= report.max_ms)
            let executed = Set(report.per_op.keys)
            #expect(executed.isSubset(of: Set(mix.weights.map(\.operation.rawValue)).union(["create"])))
            #expect(report.per_op.values.reduce(0) { $0 + $1.ops } == report.ops)
            #expect(report.server_cpu_s != nil)
            #expect((report.loader_cpu_window_s ?? -1) >= 0)
            #expect((report.loader_cpu_s_per_1000_ops ?? -1) >= 0)
        }
    }

    @Test func openLoopKeepsToItsRate() async throws {
        try await withServer { endpoint in
            let report = try await BenchRunner(
                configuration: configuration(endpoint, mix: .statHeavy, clients: 2, rate: 100), showProgress: false).run()
            #expect(report.mode == "open")
            #expect(report.errors == 0)
            // 100/s for 0.4 s: about 40 operations inside the window (fewer on a slow machine, never
            // more than the schedule allows; a closed loop would do hundreds).
            #expect(report.ops > 0 && report.ops <= 60, "ops \(report.ops)")
        }
    }

    @Test func anUnreachableClusterFailsSetupWithAClearError() async throws {
        var config = configuration("127.0.0.1:1", mix: .create, clients: 1)
        config.timeoutMilliseconds = 300
        await #expect(throws: BenchSetupError.self) {
            _ = try await BenchRunner(configuration: config, showProgress: false).run()
        }
    }
}
