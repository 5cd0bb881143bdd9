import AlmanacClient
import AlmanacNode
import AlmanacOperations
import AlmanacServer
import AlmanacWire

/// Where a node's live console gets its state (docs/operations.md, "Console"): the node's own
/// cluster status (served locally, like `ctl status` asked of this node) and, for the heat per
/// segment, every node's access monitor (asked of each node, as `ctl shards` does; a node that does
/// not answer within a second is left out and the page says which were counted).
enum ConsoleSource {
    static func make(
        executor: RequestExecutor, nodeID: UInt64, members: [ClusterMember], clientConfiguration: AlmanacClientConfiguration
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
            return ConsoleState(status: status, loads: loads)
        }
    }
}
