import AlmanacClient
import AlmanacCoordinator
import AlmanacKeyspace
import ArgumentParser
import Foundation

/// `almanac ctl node add ID --zone Z --peer HOST:PORT --api HOST:PORT`: records a new member in the
/// shard map (docs/migration.md, "Membership"). Then start the node with `almanac serve --join`.
struct CtlNodeAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a node to a running cluster (it holds no replica until one moves to it: ctl migrate, ctl node drain).",
        discussion: """
            Records the member in the shard map by compare-and-swap; every node then connects to its peer address. \
            Start it afterwards with `almanac serve --join --id ID --zone Z --peer-listen PEER --api-listen API` and \
            the founding members' --member flags. Ids are never reused. Exit codes: 0 added (or already added), \
            2 refused, 3 the cluster or its map store did not answer.
            """)
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Argument(help: "The new node's id (positive, never used before in this cluster).") var node: UInt64
    @Option(help: "The new node's zone (a new zone is allowed).") var zone: String
    @Option(help: "host:port of its peer (Raft) transport.") var peer: String
    @Option(help: "host:port of its client API.") var api: String

    func run() async throws {
        let options = try await options.withAdminToken(subject: "ctl-node-add")
        let store = try mapOptions.store(options)
        defer { Task { await store.shutdown() } }
        let member = ClusterMember(id: node, zone: zone, peerAddress: peer, apiAddress: api)
        try await CtlRunner.run(options, command: "node add") { client, output throws(CtlFailure) in
            let current = try await CtlMembership.members(client)
            let map: ShardMap
            do throws(MembershipChangeError) {
                map = try await MembershipChangeDriver(store: store).add(member, current: current)
            } catch {
                throw CtlMembership.failure(error)
            }
            if output.json {
                output.emit(CtlMembership.Report(node: member.id, change: "added", mapEpoch: map.epoch, members: map.members(founding: current).map(\.id)))
                return
            }
            output.line("node \(member.id) (zone \(member.zone), peer \(member.peerAddress), api \(member.apiAddress)) is a member; map epoch \(map.epoch)")
            output.line("start it with: almanac serve --join --id \(member.id) --zone \(member.zone) --peer-listen \(member.peerAddress) "
                + "--api-listen \(member.apiAddress) --data-dir DIR " + current.filter { !map.removedNodes.contains($0.id) && !map.joinedMembers.contains($0) }
                    .map { "--member \($0.id),\($0.zone),\($0.peerAddress),\($0.apiAddress)" }.joined(separator: " "))
        }
    }
}

/// `almanac ctl node remove N`: removes a member that holds no replica (drain it first).
struct CtlNodeRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a node that holds no shard replica from the cluster (run `ctl node drain N` first).",
        discussion: """
            Refused while the map names the node as a replica or in a migration, and for the nodes that hold the \
            system group (the embedded shard map store stays on its founding nodes). The node stops serving when it \
            sees the map; its id is never reused. Exit codes: 0 removed (or already removed), 2 refused, 3 the \
            cluster or its map store did not answer.
            """)
    @OptionGroup var options: CtlOptions
    @OptionGroup var mapOptions: CtlMapStoreOptions
    @Argument(help: "The node to remove.") var node: UInt64

    func run() async throws {
        let options = try await options.withAdminToken(subject: "ctl-node-remove")
        let store = try mapOptions.store(options)
        defer { Task { await store.shutdown() } }
        let (removed, embedded) = (node, mapOptions.shardMap == "embedded")
        let probe = try options.clientConfiguration(
            endpoints: try options.endpointList(), attemptTimeout: .seconds(2), operationTimeout: .seconds(4), clientName: "almanac-ctl-node-remove")
        try await CtlRunner.run(options, command: "node remove") { client, output throws(CtlFailure) in
            let current = try await CtlMembership.members(client)
            var pinned: [NodeID: String] = [:]
            if embedded {
                for holder in try await CtlMembership.systemGroupVoters(client, members: current, probe: probe) {
                    pinned[holder] = "it holds a replica of the system group (the embedded shard map store), which stays on its founding nodes"
                }
            }
            let map: ShardMap
            do throws(MembershipChangeError) {
                map = try await MembershipChangeDriver(store: store).remove(removed, current: current, pinned: pinned)
            } catch {
                throw CtlMembership.failure(error)
            }
            if output.json {
                output.emit(CtlMembership.Report(node: removed, change: "removed", mapEpoch: map.epoch, members: map.members(founding: current).map(\.id)))
                return
            }
            output.line("node \(removed) is no longer a member; map epoch \(map.epoch). It stops serving when it sees the map.")
        }
    }
}

/// What `ctl node add` and `ctl node remove` share.
enum CtlMembership {
    struct Report: Encodable {
        var node: NodeID
        var change: String
        var mapEpoch: Epoch
        var members: [NodeID]
    }

    /// The members as the responding node knows them (its status).
    static func members(_ client: AlmanacClient) async throws(CtlFailure) -> [ClusterMember] {
        let status: ClusterStatus
        do throws(AlmanacClientError) { status = try await client.status() } catch { throw CtlFailure(error: error, path: nil) }
        return status.nodes.map { ClusterMember(id: $0.nodeID, zone: $0.zone, peerAddress: $0.peerAddress, apiAddress: $0.clientAddress) }
    }

    /// The system group's voters, from the first member whose status reports the group (with more
    /// nodes than zones, not every node hosts it). Unknown (no member answers with it): refused.
    static func systemGroupVoters(_ client: AlmanacClient, members: [ClusterMember], probe: AlmanacClientConfiguration) async throws(CtlFailure) -> [NodeID] {
        for member in members {
            var configuration = probe
            configuration.endpoints = [member.apiAddress]
            let direct = AlmanacClient(configuration: configuration)
            let status = try? await direct.status()
            await direct.shutdown()
            if let status, status.hasSystemGroup, !status.systemGroup.replicas.isEmpty {
                return status.systemGroup.replicas.map(\.nodeID)
            }
        }
        throw CtlFailure(error: AlmanacClientError(.unavailable, "no member reports the system group's replicas; cannot tell whether the node holds one"), path: nil)
    }

    static func failure(_ error: MembershipChangeError) -> CtlFailure {
        switch error {
        case .invalid: CtlFailure(error: AlmanacClientError(.invalidArgument, code: .einval, error.description), path: nil)
        case .interrupted: CtlFailure(error: AlmanacClientError(.unavailable, error.description), path: nil)
        }
    }
}
