import AlmanacWire
import NIOCore

extension AlmanacClient {
    /// `predict_access_pattern(key)`: forecast requests to `inode`'s segment per zone and bucket ahead
    /// (no steps, and `noForecast` says why, while the nodes hold too little history).
    public func predictAccessPattern(inode: UInt64) async throws(AlmanacClientError) -> Almanac_Api_V1_AccessPatternForecast {
        var call = Almanac_Api_V1_PredictAccessPatternCall()
        call.inode = inode
        guard case .forecast(let answer)? = try await placement(.predictAccessPattern(call)).result else { throw Self.noPlacementResult("forecast") }
        return answer
    }

    /// `plan_migration(key)`: what the controller's policy would do with `inode`'s shard now (a dry run).
    public func planMigration(inode: UInt64) async throws(AlmanacClientError) -> Almanac_Api_V1_MigrationPlan {
        var call = Almanac_Api_V1_PlanMigrationCall()
        call.inode = inode
        guard case .plan(let answer)? = try await placement(.planMigration(call)).result else { throw Self.noPlacementResult("plan") }
        return answer
    }

    /// `get_shard_location(key)`: `inode`'s segment, shard, replicas, leader and epochs.
    public func shardLocation(inode: UInt64) async throws(AlmanacClientError) -> Almanac_Api_V1_ShardLocation {
        var call = Almanac_Api_V1_GetShardLocationCall()
        call.inode = inode
        guard case .location(let answer)? = try await placement(.getShardLocation(call)).result else { throw Self.noPlacementResult("location") }
        return answer
    }

    /// `execute_migration(plan)` (admin): sent once, to one node, which runs the migration to its end
    /// within `timeout` (the server answers TIMEOUT after at most 60 s; the migration goes on). A retry would be a second migration, so none is made: on a lost answer, look
    /// at the map (`get_shard_map`) before sending another.
    public func executeMigration(_ plan: Almanac_Api_V1_ExecuteMigrationCall, timeout: TimeAmount = .seconds(60))
        async throws(AlmanacClientError) -> Almanac_Api_V1_MigrationOutcome {
        guard case .migration(let answer)? = try await placementOnce(.executeMigration(plan), timeout: timeout).result else {
            throw Self.noPlacementResult("migration")
        }
        return answer
    }

    /// `trigger_resharding()`: LSMM on the live loads; unless `dryRun` (admin), its first decision is
    /// carried out, sent once like ``executeMigration(_:timeout:)``.
    public func triggerResharding(dryRun: Bool, splitThresholdOpsPerSec: Double = 0, timeout: TimeAmount = .seconds(60))
        async throws(AlmanacClientError) -> Almanac_Api_V1_ReshardingOutcome {
        var call = Almanac_Api_V1_TriggerReshardingCall()
        call.dryRun = dryRun
        call.splitThresholdOpsPerSec = splitThresholdOpsPerSec
        let response = dryRun ? try await placement(.triggerResharding(call)) : try await placementOnce(.triggerResharding(call), timeout: timeout)
        guard case .resharding(let answer)? = response.result else { throw Self.noPlacementResult("resharding") }
        return answer
    }

    /// A read-only placement call, with the usual retries on any node.
    private func placement(_ call: Almanac_Api_V1_PlacementRequest.OneOf_Call) async throws(AlmanacClientError) -> Almanac_Api_V1_PlacementResponse {
        var request = Almanac_Api_V1_Request()
        request.placement.call = call
        let response = try await read(request, shard: nil)
        guard case .placement(let answer)? = response.result else { throw Self.noPlacementResult("placement") }
        return answer
    }

    /// A placement call that acts: one attempt on one node, no retry and no hedge.
    private func placementOnce(_ call: Almanac_Api_V1_PlacementRequest.OneOf_Call, timeout: TimeAmount)
        async throws(AlmanacClientError) -> Almanac_Api_V1_PlacementResponse {
        guard let target = endpoints.first else { throw AlmanacClientError(.invalidArgument, "no endpoints configured") }
        var request = Almanac_Api_V1_Request()
        request.placement.call = call
        request.timeoutMs = UInt32(clamping: timeout.nanoseconds / 1_000_000)
        switch await singleAttempt(request, target: target, timeout: timeout) {
        case .success(let response):
            if response.hasError, response.error.code != .ok { throw AlmanacClientError(response: response.error) }
            guard case .placement(let answer)? = response.result else { throw Self.noPlacementResult("placement") }
            return answer
        case .failure(.connection(let message)):
            throw AlmanacClientError(.unavailable, "\(target): \(message) (the call may have started: look at the map before retrying)")
        case .failure(.timedOut(let message)):
            throw AlmanacClientError(.timeout, "\(target): \(message) (the call may still be running: look at the map before retrying)")
        case .failure(.protocolViolation(let message)):
            throw AlmanacClientError(.protocolViolation, message)
        case .failure(.unsendable(let code, let message)):
            throw AlmanacClientError(.invalidArgument, code: code, message)
        }
    }

    private static func noPlacementResult(_ what: String) -> AlmanacClientError {
        AlmanacClientError(.protocolViolation, "placement: the response carries no \(what)")
    }
}
