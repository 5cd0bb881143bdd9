import AlmanacNode
import AlmanacRaft
import AlmanacWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

typealias Message = AlmanacRaft.Message

/// Collects everything a transport reports, thread-safely.
final class Inbox: Sendable {
    private let received = NIOLockedValueBox<[NodeID: [PeerEnvelope]]>([:])
    private let unreachableGroups = NIOLockedValueBox<[NodeID: Set<GroupID>]>([:])
    private let healthEvents = NIOLockedValueBox<[HealthEvent]>([])

    var handlers: PeerTransportHandlers {
        PeerTransportHandlers(
            onReceive: { from, envelopes in self.received.withLockedValue { $0[from, default: []] += envelopes } },
            onUnreachable: { peer, groups in self.unreachableGroups.withLockedValue { $0[peer, default: []].formUnion(groups) } },
            onHealthEvent: { event in self.healthEvents.withLockedValue { $0.append(event) } })
    }

    func envelopes(from peer: NodeID) -> [PeerEnvelope] { received.withLockedValue { $0[peer] ?? [] } }
    func count(from peer: NodeID) -> Int { received.withLockedValue { $0[peer]?.count ?? 0 } }
    func unreachable(_ peer: NodeID) -> Set<GroupID> { unreachableGroups.withLockedValue { $0[peer] ?? [] } }
    var events: [HealthEvent] { healthEvents.withLockedValue { $0 } }
}

enum TransportTestSupport {
    static let quietLogger = Logger(label: "almanac.test.transport", factory: { _ in SwiftLogNoOpLogHandler() })
    static let clusterID = "test-cluster"

    static func configuration(id: NodeID, zone: String, port: Int = 0, peers: [PeerAddress] = []) -> PeerTransportConfiguration {
        PeerTransportConfiguration(local: PeerAddress(id: id, zone: zone, host: "127.0.0.1", port: port),
                                   clusterID: clusterID, peers: peers)
    }

    static func start(_ configuration: PeerTransportConfiguration, inbox: Inbox,
                      loop: (any EventLoop)? = nil) async throws -> PeerTransport {
        try await PeerTransport.start(configuration: configuration,
                                      eventLoop: loop ?? MultiThreadedEventLoopGroup.singleton.next(),
                                      logger: quietLogger, handlers: inbox.handlers)
    }

    static func append(group: GroupID, index: LogIndex, from: NodeID, to: NodeID, payload: Int = 32) -> PeerEnvelope {
        PeerEnvelope(groupID: group, message: Message(
            type: .append, from: from, to: to, term: 1, logTerm: 1, index: index - 1,
            entries: [Entry(term: 1, index: index, data: Array(repeating: UInt8(truncatingIfNeeded: index), count: payload))],
            commit: index - 1))
    }

    static func heartbeat(group: GroupID, from: NodeID, to: NodeID, commit: LogIndex) -> PeerEnvelope {
        PeerEnvelope(groupID: group, message: Message(type: .heartbeat, from: from, to: to, term: 1, commit: commit))
    }

    /// A mix of appends and heartbeats over several groups; every envelope is distinct.
    static func traffic(count: Int, from: NodeID, to: NodeID, groups: UInt64 = 7) -> [PeerEnvelope] {
        (1...count).map { i in
            let group = GroupID(i) % groups + 1
            return i % 4 == 0 ? heartbeat(group: group, from: from, to: to, commit: LogIndex(i))
                : append(group: group, index: LogIndex(i), from: from, to: to)
        }
    }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    static func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return try await condition()
    }
}
