import AlmanacWire

extension AlmanacClient {
    /// A step of replica migration on `shard` (`replica_admin`, docs/migration.md; admin token).
    /// `toLeader`: the call goes to the shard's leader, following NOT_LEADER hints
    /// (change_membership, transfer_leadership, configuration); otherwise to this client's endpoint
    /// as is (join and leave act on the node that receives them: use a client of that node alone).
    public func replicaAdmin(shard: UInt16, _ call: Almanac_Api_V1_ReplicaAdminRequest.OneOf_Call,
                             toLeader: Bool) async throws(AlmanacClientError) -> Almanac_Api_V1_ReplicaAdminResponse {
        var admin = Almanac_Api_V1_ReplicaAdminRequest()
        admin.shardID = UInt32(shard)
        admin.call = call
        var request = Almanac_Api_V1_Request()
        request.replicaAdmin = admin
        let response = try await read(request, shard: toLeader ? shard : nil)
        guard case .replicaAdmin(let answer)? = response.result else {
            throw AlmanacClientError(.protocolViolation, "replica_admin: response carries no result")
        }
        return answer
    }
}
