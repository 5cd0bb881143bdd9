// Measures the client protocol's per-request cost on loopback (not a test; no assertions).
//
//   swift build -c release --build-path .build-rel --product almanac-api-latency
//   .build-rel/release/almanac-api-latency [requests]
//
// Backend: the in-process test double (no Raft, no fsync), so the numbers are the API layer's own
// cost: client library + framing + protobuf + NIO + server dispatch, next to the same requests
// through the RequestExecutor without any network.
import AlmanacClient
import AlmanacServer
import AlmanacServerTestSupport
import AlmanacWire
import Foundation
import Logging

func micros(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
}

func percentile(_ samples: [Duration], _ p: Double) -> String {
    let sorted = samples.sorted()
    return String(format: "%.1f", micros(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]))
}

let n = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 5000 : 5000
var logger = Logger(label: "almanac.api.latency")
logger.logLevel = .warning
let service = InProcessMetadataService()
let server = try await APIServer.start(service: service, logger: logger)
let client = AlmanacClient(endpoints: [server.endpoint])
let clock = ContinuousClock()

_ = try await client.mkdir(parent: rootInode, name: "warm")
for _ in 0..<1000 { _ = try await client.getattr(rootInode) }

var getattrSamples: [Duration] = []
for _ in 0..<n {
    let start = clock.now
    _ = try await client.getattr(rootInode)
    getattrSamples.append(clock.now - start)
}
var createSamples: [Duration] = []
for i in 0..<n {
    let start = clock.now
    _ = try await client.create(parent: rootInode, name: "c\(i)")
    createSamples.append(clock.now - start)
}

let executor = RequestExecutor(service: service)
var request = Almanac_Api_V1_Request()
var getattr = Almanac_Api_V1_GetattrRequest()
getattr.inode = 1
request.getattr = getattr
let localStart = clock.now
for _ in 0..<n { _ = await executor.execute(request) }
let local = micros(clock.now - localStart) / Double(n)

let total = 4 * n
let pipeStart = clock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    for worker in 0..<64 {
        group.addTask {
            for _ in stride(from: worker, to: total, by: 64) { _ = try await client.getattr(rootInode) }
        }
    }
    try await group.waitForAll()
}
let pipe = micros(clock.now - pipeStart) / 1e6

print("""
    API loopback latency, in-process test-double backend, \(n) sequential requests each:
      getattr  p50 \(percentile(getattrSamples, 0.5)) us  p90 \(percentile(getattrSamples, 0.9)) us  p99 \(percentile(getattrSamples, 0.99)) us
      create   p50 \(percentile(createSamples, 0.5)) us  p90 \(percentile(createSamples, 0.9)) us  p99 \(percentile(createSamples, 0.99)) us
      getattr through RequestExecutor without network: \(String(format: "%.1f", local)) us
      pipelined getattr, 64 callers on one connection: \(String(format: "%.0f", Double(total) / pipe)) requests/s
    """)
await client.shutdown()
await server.shutdown()
