import AlmanacNode
import AlmanacRaft
import AlmanacSecurity
import Foundation
import NIOCore
import Testing

/// Mutual TLS between peer transports on real loopback sockets: nodes with certificates of the
/// cluster CA exchange messages; a node whose certificate another CA signed is refused whether it
/// dials (the acceptor rejects its client certificate) or is dialed (the dialer rejects its server
/// certificate), although it trusts the cluster CA and is a configured member.
@Suite struct PeerTLSTests {
    typealias T = TransportTestSupport

    @Test func peersSignedByTheClusterCAConnectAndOthersAreRefused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-peer-tls-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = try DevCertificates.generate(into: directory + "/cluster", clusterName: "test", nodes: [2, 3])
        let rogue = try DevCertificates.generate(into: directory + "/rogue", clusterName: "rogue", nodes: [1, 4])
        // The rogue nodes trust the cluster CA (so they would accept the cluster's certificates);
        // only their own certificates are foreign.
        func rogueFiles(_ id: UInt64) -> TLSFiles {
            var files = rogue.node(id)
            files.certificateAuthority = cluster.certificateAuthority
            return files
        }

        let inbox2 = Inbox(), inbox3 = Inbox(), inbox1 = Inbox(), inbox4 = Inbox()
        var c2 = T.configuration(id: 2, zone: "b"); c2.tls = try cluster.node(2).makePeerContext()
        var c3 = T.configuration(id: 3, zone: "c"); c3.tls = try cluster.node(3).makePeerContext()
        var c1 = T.configuration(id: 1, zone: "a"); c1.tls = try rogueFiles(1).makePeerContext()
        var c4 = T.configuration(id: 4, zone: "d"); c4.tls = try rogueFiles(4).makePeerContext()
        let node2 = try await T.start(c2, inbox: inbox2)
        let node3 = try await T.start(c3, inbox: inbox3)
        let rogue1 = try await T.start(c1, inbox: inbox1)
        let rogue4 = try await T.start(c4, inbox: inbox4)
        // Every one is a configured member of node 2: refusals below are TLS's, not the hello's.
        try await node2.setPeers([node3.localAddress, rogue1.localAddress, rogue4.localAddress])
        try await node3.setPeers([node2.localAddress])
        try await rogue1.setPeers([node2.localAddress])
        try await rogue4.setPeers([node2.localAddress])

        let to3 = T.traffic(count: 200, from: 2, to: 3)
        let to2 = T.traffic(count: 100, from: 3, to: 2)
        let rogueTo2 = T.traffic(count: 50, from: 1, to: 2) + T.traffic(count: 50, from: 4, to: 2)
        // Several rounds: reconnect attempts keep failing the same way.
        for _ in 0..<5 {
            node2.send(to: 3, to3)
            node3.send(to: 2, to2)
            rogue1.send(to: 2, Array(rogueTo2[..<50]))
            rogue4.send(to: 2, Array(rogueTo2[50...]))
            node2.send(to: 1, T.traffic(count: 10, from: 2, to: 1))
            node2.send(to: 4, T.traffic(count: 10, from: 2, to: 4))
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(await T.eventually { inbox3.count(from: 2) > 0 && inbox2.count(from: 3) > 0 }, "cluster peers did not connect over TLS")
        #expect(try await node2.statistics()[3]?.connected == true)

        #expect(inbox2.count(from: 1) == 0, "a dialer with a foreign certificate was accepted")
        #expect(inbox2.count(from: 4) == 0, "an acceptor with a foreign certificate was accepted")
        #expect(inbox1.count(from: 2) == 0 && inbox4.count(from: 2) == 0, "the cluster node talked to a foreign peer")
        let stats = try await node2.statistics()
        #expect(stats[1]?.connected != true && stats[4]?.connected != true)
        #expect(try await rogue1.statistics()[2]?.connected != true)

        for transport in [node2, node3, rogue1, rogue4] { try await transport.stop() }
    }
}
