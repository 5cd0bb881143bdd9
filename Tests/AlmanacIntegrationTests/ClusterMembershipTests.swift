import AlmanacClient
import AlmanacKeyspace
import AlmanacNode
import AlmanacTestSupport
import Foundation
import Testing

/// Cluster membership at runtime on real processes (docs/migration.md, "Membership"):
/// `ctl node add`, `serve --join`, a replica moved onto the new node and back, `ctl node remove`,
/// and the refusals on the way.
@Suite(.serialized) struct ClusterMembershipTests {
    static let clusterID = "it-membership"

    /// `almanac ctl ARGS --endpoints ... --cluster-id ...` (plaintext, no tokens): exit status and output.
    static func ctl(_ cluster: TestCluster, _ arguments: [String]) throws -> (status: Int32, output: String) {
        var args = ["ctl"] + arguments + ["--endpoints", cluster.endpoints.joined(separator: ",")]
        if arguments.first != "check" { args += ["--cluster-id", clusterID] }
        return try AlmanacCommand.run(cluster.binary, args, removing: ["ALMANAC_TOKEN_KEY", "ALMANAC_TOKEN", "ALMANAC_CA"])
    }

    /// Writes node `member`'s configuration as a node that joins at runtime (TestCluster launches it).
    static func writeJoinConfig(_ cluster: TestCluster, _ member: ClusterMember) throws {
        var config = NodeConfigFile(id: member.id, zone: member.zone, dataDirectory: "\(cluster.root)/node\(member.id)",
                                    shards: cluster.shards, clusterID: clusterID, members: cluster.members,
                                    snapshotEveryEntries: 100, snapshotChunkBytes: 4096)
        config.joinedMembers = [member]
        try config.encoded().write(to: URL(fileURLWithPath: "\(cluster.root)/node\(member.id).json"))
    }

    /// Polls node 1's status until `condition` holds of its member list.
    static func waitForMembers(_ client: AlmanacClient, _ what: String, timeout: Duration = .seconds(20),
                               _ condition: ([ClusterStatus.NodeStatusLike]) -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var last: [ClusterStatus.NodeStatusLike] = []
        while clock.now < deadline {
            if let status = try? await client.status() {
                last = status.nodes.map { ClusterStatus.NodeStatusLike(id: $0.nodeID, zone: $0.zone, alive: $0.health == .alive || $0.nodeID == status.responderNodeID) }
                if condition(last) { return }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ClusterError("\(what) never held; members: \(last)")
    }

    static func waitForExit(_ process: Process?, timeout: Duration = .seconds(20)) async throws -> Int32 {
        guard let process else { throw ClusterError("no process") }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while process.isRunning && clock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        guard !process.isRunning else { throw ClusterError("the process did not exit within \(timeout)") }
        return process.terminationStatus
    }

    @Test("ctl node add, serve --join, a replica moved onto the new node and back, ctl node remove; refusals change nothing")
    func addMoveRemove() async throws {
        let cluster = try await TestCluster.start(name: "membership", shards: 2, nodes: 3)
        defer { cluster.shutdown() }
        let client = cluster.client()
        defer { Task { await client.shutdown() } }
        let root = try await client.mkdir(parent: rootInode, name: "before")
        let ports = try TestCluster.freePorts(count: 4)
        let fourth = ClusterMember(id: 4, zone: "zone-a", peerAddress: "127.0.0.1:\(ports[0])", apiAddress: "127.0.0.1:\(ports[1])")

        // A node that joins before it was added stops at once, saying why.
        let stray = ClusterMember(id: 5, zone: "zone-b", peerAddress: "127.0.0.1:\(ports[2])", apiAddress: "127.0.0.1:\(ports[3])")
        try Self.writeJoinConfig(cluster, stray)
        try cluster.launch(5)
        let strayStatus = try await Self.waitForExit(cluster.process(5), timeout: .seconds(30))
        #expect(strayStatus != 0)
        #expect(cluster.tail(5, lines: 80).contains("is not a member of the cluster"), "\(cluster.tail(5))")

        // Bad input, nothing changed: an id in use, an address in use, a malformed address.
        #expect(try Self.ctl(cluster, ["node", "add", "2", "--zone", "zone-a", "--peer", fourth.peerAddress, "--api", fourth.apiAddress]).status == 2)
        #expect(try Self.ctl(cluster, ["node", "add", "4", "--zone", "zone-a", "--peer", cluster.member(1).peerAddress, "--api", fourth.apiAddress]).status == 2)
        #expect(try Self.ctl(cluster, ["node", "add", "4", "--zone", "zone-a", "--peer", "nowhere", "--api", fourth.apiAddress]).status == 2)

        let added = try Self.ctl(cluster, ["node", "add", "4", "--zone", "zone-a", "--peer", fourth.peerAddress, "--api", fourth.apiAddress])
        #expect(added.status == 0, "\(added.output)")
        #expect(added.output.contains("serve --join --id 4"), "\(added.output)")
        // Again: a no-op.
        #expect(try Self.ctl(cluster, ["node", "add", "4", "--zone", "zone-a", "--peer", fourth.peerAddress, "--api", fourth.apiAddress]).status == 0)

        try Self.writeJoinConfig(cluster, fourth)
        try cluster.launch(4)
        try await cluster.waitReady(4)
        // Every node learns of it and reaches it.
        try await Self.waitForMembers(client, "node 4 listed and alive") { nodes in
            nodes.contains { $0.id == 4 && $0.zone == "zone-a" && $0.alive }
        }

        // A replica moves onto it, with the leadership; the namespace keeps serving through it.
        let moved = try Self.ctl(cluster, ["migrate", "0", "--to", "4", "--leader"])
        #expect(moved.status == 0, "\(moved.output)")
        _ = try await client.mkdir(parent: rootInode, name: "on-node-4")
        _ = try await client.create(parent: root.inode, name: "after-move")
        let check = try Self.ctl(cluster, ["check"])
        #expect(check.status == 0, "\(check.output)")

        // Removal refused while it holds a replica, and for a holder of the system group.
        let busy = try Self.ctl(cluster, ["node", "remove", "4"])
        #expect(busy.status == 2 && busy.output.contains("ctl node drain 4"), "\(busy.output)")
        let system = try Self.ctl(cluster, ["node", "remove", "2"])
        #expect(system.status == 2 && system.output.contains("system group"), "\(system.output)")

        // Drained, then removed: it stops serving on its own (exit 0) and leaves every node's status.
        let drained = try Self.ctl(cluster, ["node", "drain", "4"])
        #expect(drained.status == 0, "\(drained.output)")
        let removed = try Self.ctl(cluster, ["node", "remove", "4"])
        #expect(removed.status == 0, "\(removed.output)")
        #expect(try await Self.waitForExit(cluster.process(4)) == 0, "\(cluster.tail(4))")
        #expect(cluster.tail(4, lines: 80).contains("was removed from the cluster"), "\(cluster.tail(4))")
        try await Self.waitForMembers(client, "node 4 gone") { nodes in nodes.map(\.id).sorted() == [1, 2, 3] }
        // Its id is never reused; everything written is still there.
        #expect(try Self.ctl(cluster, ["node", "add", "4", "--zone", "zone-a", "--peer", fourth.peerAddress, "--api", fourth.apiAddress]).status == 2)
        #expect(try await client.readdir(root.inode).collect().map(\.name).contains("after-move"))
        _ = try await client.lookup(parent: rootInode, name: "on-node-4")
        let after = try Self.ctl(cluster, ["check"])
        #expect(after.status == 0, "\(after.output)")
    }
}

extension ClusterStatus {
    /// What the membership test reads of a node's status entry.
    struct NodeStatusLike: CustomStringConvertible {
        var id: NodeID
        var zone: String
        var alive: Bool
        var description: String { "\(id)(\(zone))\(alive ? "" : " down")" }
    }
}
