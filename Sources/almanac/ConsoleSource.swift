import AlmanacClient
import AlmanacController
import AlmanacKeyspace
import AlmanacNode
import AlmanacOperations
import AlmanacServer
import AlmanacWire
import Foundation
import NIOConcurrencyHelpers

/// The control-plane panes of the console, installed once the node's map store is up (before that,
/// and on a node without a map store, the page says there is no controller).
final class ConsoleControlPlane: Sendable {
    private let panes = NIOLockedValueBox<ControlPlanePanes?>(nil)

    func install(_ panes: ControlPlanePanes) { self.panes.withLockedValue { $0 = panes } }

    /// Fills the placement panes of `state` from `statuses` (every node's that answered).
    func fill(_ state: inout ConsoleState, statuses: [Almanac_Api_V1_ClusterStatus]) async {
        guard let panes = panes.withLockedValue({ $0 }) else { return }
        let view = await panes.view(statuses: statuses)
        let format = ISO8601DateFormatter()
        state.controller = view.controller
        state.forecastNote = view.forecastNote
        state.forecast = view.forecast?.map {
            ConsoleState.ForecastPoint(segment: UInt32($0.segment), shard: UInt32($0.shard), forecast: $0.forecast, actual: $0.actual, next: $0.next)
        }
        state.moves = view.moves.map {
            ConsoleState.Move(kind: $0.kind, subject: $0.subject, from: $0.from, to: $0.to, phase: $0.phase,
                              since: format.string(from: Date(timeIntervalSince1970: Double($0.sinceMillis) / 1000)))
        }
        state.audit = view.audit.map {
            ConsoleState.AuditEntry(at: format.string(from: Date(timeIntervalSince1970: $0.time)), decision: $0.summary, reason: $0.reason)
        }
    }
}

/// Where a node's live console gets its state (docs/operations.md, "Console"): the node's own
/// cluster status (served locally, like `ctl status` asked of this node) and, for the heat per
/// segment, every node's access monitor (asked of each node, as `ctl shards` does; a node that does
/// not answer within a second is left out and the page says which were counted).
enum ConsoleSource {
    static func make(
        executor: RequestExecutor, nodeID: UInt64, members: [ClusterMember], clientConfiguration: AlmanacClientConfiguration,
        controlPlane: ConsoleControlPlane
    ) -> @Sendable () async -> ConsoleState {
        let others: [(id: UInt64, client: AlmanacClient)] = members.filter { $0.id != nodeID }.map { member in
            var configuration = clientConfiguration
            configuration.endpoints = [member.apiAddress]
            configuration.attemptTimeout = .milliseconds(500)
            configuration.operationTimeout = .milliseconds(900)
            configuration.connectTimeout = .milliseconds(300)
            configuration.hedgeDelay = nil
            configuration.clientName = "almanac-console-\(nodeID)"
            return (member.id, AlmanacClient(configuration: configuration))
        }
        return {
            var request = Almanac_Api_V1_Request()
            request.clusterStatus = Almanac_Api_V1_ClusterStatusRequest()
            let response = await executor.execute(request)
            guard case .clusterStatus(let status)? = response.result else {
                return ConsoleState(servedBy: nodeID, error: "this node cannot report the cluster's status: \(response.error.message)")
            }
            var loads = [status]
            await withTaskGroup(of: Almanac_Api_V1_ClusterStatus?.self) { group in
                for other in others {
                    group.addTask {
                        guard let answer = try? await other.client.status(), answer.responderNodeID == other.id else { return nil }
                        return answer
                    }
                }
                for await answer in group { if let answer { loads.append(answer) } }
            }
            var state = ConsoleState(status: status, loads: loads)
            await controlPlane.fill(&state, statuses: loads)
            return state
        }
    }
}
