import AlmanacNode
import Logging
import NIOHTTP1

/// The operations endpoint of a node: `/metrics` (Prometheus text; the state gauges are refreshed
/// from the host's status at each scrape), `/healthz` and `/readyz` (see ``Probes``).
public struct NodeOperationsResponder: OperationsResponder {
    public let metrics: NodeMetrics
    public let snapshot: @Sendable () async -> NodeSnapshot?
    /// The metadata service's part of `/metrics` (prefetching, segment heat); nil: none.
    public let service: (@Sendable () async -> ServiceSample)?
    public let maxApplyLag: UInt64

    public init(metrics: NodeMetrics, maxApplyLag: UInt64 = NodeOperations.defaultMaxApplyLag,
                service: (@Sendable () async -> ServiceSample)? = nil,
                snapshot: @escaping @Sendable () async -> NodeSnapshot?) {
        self.metrics = metrics
        self.snapshot = snapshot
        self.service = service
        self.maxApplyLag = maxApplyLag
    }

    public func respond(toPath path: String) async -> OperationsResponse {
        switch path {
        case "/metrics":
            metrics.update(from: await snapshot(), maxApplyLag: maxApplyLag)
            if let service { metrics.update(from: await service()) }
            return OperationsResponse(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8",
                                      body: metrics.exposition())
        case "/healthz":
            return Self.answer(Probes.health(await snapshot()), okText: "ok")
        case "/readyz":
            return Self.answer(Probes.readiness(await snapshot(), maxApplyLag: maxApplyLag), okText: "ready")
        case "/":
            return OperationsResponse(status: .ok, text: "/metrics /healthz /readyz\n")
        default:
            return OperationsResponse(status: .notFound, text: "not found: \(path) (try /metrics, /healthz, /readyz)\n")
        }
    }

    static func answer(_ verdict: Probes.Verdict, okText: String) -> OperationsResponse {
        verdict.ok
            ? OperationsResponse(status: .ok, text: okText + "\n")
            : OperationsResponse(status: .serviceUnavailable, text: verdict.reasons.joined(separator: "\n") + "\n")
    }
}

/// Starts a node's operations endpoint.
public enum NodeOperations {
    /// `/readyz` fails while a hosted group has more committed entries than this not yet applied.
    public static let defaultMaxApplyLag: UInt64 = 1_000

    public static func start<Machine: ReplicatedStateMachine>(
        host: MultiRaftHost<Machine>, metrics: NodeMetrics, address: ListenAddress,
        maxApplyLag: UInt64 = defaultMaxApplyLag, logger: Logger = Logger(label: "almanac.operations"),
        console: (@Sendable () async -> ConsoleState)? = nil,
        service: (@Sendable () async -> ServiceSample)? = nil
    ) async throws -> OperationsHTTPServer {
        let responder = NodeOperationsResponder(metrics: metrics, maxApplyLag: maxApplyLag, service: service) {
            guard let status = await host.status(digests: false) else { return nil }
            var snapshot = NodeSnapshot(status)
            snapshot.attach(links: await host.transportStatistics())
            return snapshot
        }
        // The live console (/console, docs/operations.md) when the node gives it a source.
        let served: any OperationsResponder = console.map { ConsoleResponder(next: responder, source: $0) } ?? responder
        return try await OperationsHTTPServer.start(address: address, responder: served, logger: logger)
    }
}
