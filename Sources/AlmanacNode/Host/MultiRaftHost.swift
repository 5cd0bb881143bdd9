import AlmanacRaft
import AlmanacStorage
import AlmanacWire
import Dispatch
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A node's multi-Raft host: every group placed on this node (one replica per zone, see
/// ``ReplicaPlacement``) runs here on ONE shared write-ahead log (``GroupCommitLog``), driven by one
/// event loop of its own; peers are reached through a ``PeerTransport`` on another loop.
///
/// All Raft and state-machine state lives on the host loop (see ``HostCore``); the public methods hop
/// there and suspend until the outcome is known or their deadline passes. Nothing holds Raft state
/// across an `await`.
public final class MultiRaftHost<Machine: ReplicatedStateMachine>: Sendable {
    public let configuration: HostConfiguration
    /// The host's own event loop (ticks, Ready loop, apply).
    public let eventLoop: any EventLoop
    let core: NIOLoopBoundBox<HostCore<Machine>?>
    /// How busy this node's led groups are with requests, read from any thread (the prefetching
    /// worker yields to it).
    public let requestBacklog: RequestBacklogGauge
    /// Work off the host loop that reports back to it: ``stop()`` waits for it.
    let background: BackgroundWork
    private let logger: Logger
    let log: GroupCommitLog
    /// The groups this node joined or left at runtime (see ``HostedGroupRegistry``).
    let registry: HostedGroupRegistry
    /// A group's state machine before anything was applied (the same on every replica).
    let initialMachine: @Sendable (GroupID) -> Machine
    private let transport: PeerTransport
    /// The cluster's members as this host knows them now (``setMembers(_:)``).
    private let currentMembers: Mutex<[ClusterMember]>
    private let ownedLoops: MultiThreadedEventLoopGroup
    /// Completes when the host stops: with the reason if its storage failed, nil if it was stopped.
    public let stopped: EventLoopFuture<String?>

    private init(configuration: HostConfiguration, eventLoop: any EventLoop, core: NIOLoopBoundBox<HostCore<Machine>?>,
                 log: GroupCommitLog, transport: PeerTransport, ownedLoops: MultiThreadedEventLoopGroup,
                 stopped: EventLoopFuture<String?>, registry: HostedGroupRegistry, requestBacklog: RequestBacklogGauge,
                 background: BackgroundWork, logger: Logger,
                 initialMachine: @escaping @Sendable (GroupID) -> Machine) {
        self.stopped = stopped
        self.registry = registry
        self.requestBacklog = requestBacklog
        self.background = background
        self.logger = logger
        self.initialMachine = initialMachine
        self.configuration = configuration
        self.currentMembers = Mutex(configuration.startingMembers)
        self.eventLoop = eventLoop
        self.core = core
        self.log = log
        self.transport = transport
        self.ownedLoops = ownedLoops
    }

    /// Where the peer transport listens.
    public var peerAddress: PeerAddress { transport.localAddress }

    /// Opens the storage under `dataDirectory` (recovering every group), starts the peer transport
    /// on `peerHost:peerPort` and starts ticking.
    /// `initialMachine` builds a group's state machine before anything was applied (default:
    /// ``ReplicatedStateMachine/initial(group:)``).
    public static func start(configuration: HostConfiguration, dataDirectory: String, clusterID: String,
                             logger: Logger,
                             initialMachine: @escaping @Sendable (GroupID) -> Machine = { Machine.initial(group: $0) }) async throws -> MultiRaftHost {
        try ReplicaPlacement.validate(configuration.members, minimumZones: configuration.minimumZones)
        guard let local = configuration.localMember else {
            throw HostStartError("node \(configuration.nodeID) is not in the member list")
        }
        guard let listen = ClusterMember.split(local.peerAddress) else {
            throw HostStartError("bad peer address \"\(local.peerAddress)\" for node \(local.id): expected host:port")
        }
        var peers: [PeerAddress] = []
        for member in configuration.startingMembers where member.id != local.id {
            guard let address = ClusterMember.split(member.peerAddress) else {
                throw HostStartError("bad peer address \"\(member.peerAddress)\" for node \(member.id): expected host:port")
            }
            peers.append(PeerAddress(id: member.id, zone: member.zone, host: address.host, port: address.port))
        }

        let fileSystem = configuration.fileSystem ?? POSIXFileSystem(unsafeNoSync: configuration.unsafeNoFsync)
        let engine = try LogEngine.open(fileSystem: fileSystem, directory: dataDirectory)
        if !engine.recovery.tornTails.isEmpty {
            logger.warning("storage recovery cut torn tails", metadata: ["count": "\(engine.recovery.tornTails.count)"])
        }
        let snapshotStore = engine.snapshots
        var recovered: [GroupSeed] = []
        // The static placement's groups, plus those joined at runtime, minus those left.
        let registry = try HostedGroupRegistry(directory: dataDirectory)
        let placed = configuration.hostedGroups
        let placement = registry.record.hosted(placed: placed)
        for id in placement {
            let voters = ReplicaPlacement.replicas(of: id, members: configuration.members)
            var initial = try engine.initialState(group: id)
            // A founding replica writes the static configuration into its empty log; a replica that
            // joined at runtime learns its configuration from the leader.
            if placed.contains(id) && !registry.record.joined.contains(id) { initial.bootstrap = ConfState(voters: voters) }
            // A group founded here at runtime: its founding voters, as recorded.
            if let founders = registry.record.founded?[id] { initial.bootstrap = ConfState(voters: founders) }
            var machine = initialMachine(id)
            var applied: LogIndex = 0
            var appliedTerm: Term = 0
            if let snapshot = initial.snapshot {
                machine = try Machine.restore(group: id, from: snapshot.data)
                applied = snapshot.metadata.index
                appliedTerm = snapshot.metadata.term
                // Raft keeps the snapshot's metadata only: the state is in `machine`, and a
                // follower is sent the file (docs/node.md, "Snapshots, compaction, catch-up").
                initial.snapshot = Snapshot(metadata: snapshot.metadata, data: [])
            }
            let raft = try RaftNode(config: configuration.raftConfig(), initialState: initial, random: SystemRandomNumberGenerator())
            recovered.append(GroupSeed(id: id, raft: raft, machine: machine, applied: applied, appliedTerm: appliedTerm,
                                       snapshotFile: engine.summary(of: id)?.snapshot))
            logger.info("group recovered", metadata: [
                "group": "\(id)", "voters": "\(voters)", "snapshot": "\(applied)",
                "entries": "\(initial.entries.count)", "term": "\(initial.hardState.term)"])
        }
        let log = GroupCommitLog(engine: engine, observer: configuration.observer.walSync)

        let loops = MultiThreadedEventLoopGroup(numberOfThreads: configuration.transportOnHostLoop ? 1 : 2)
        let hostLoop = loops.next()
        let transportLoop = configuration.transportOnHostLoop ? hostLoop : loops.next()
        let box = NIOLoopBoundBox<HostCore<Machine>?>.makeEmptyBox(valueType: HostCore<Machine>.self, eventLoop: hostLoop)
        let seeds = recovered
        let stopped = hostLoop.makePromise(of: String?.self)
        let requestBacklog = RequestBacklogGauge()
        let background = BackgroundWork()
        try await hostLoop.submit {
            var groups: [UInt64: GroupReplica<Machine>] = [:]
            for seed in seeds {
                let group = GroupReplica(id: seed.id, raft: seed.raft, machine: seed.machine,
                                         applied: seed.applied, appliedTerm: seed.appliedTerm)
                if let file = seed.snapshotFile { group.snapshotFiles[SnapshotKey(index: file.index, term: file.term)] = file }
                groups[seed.id] = group
            }
            box.value = HostCore(loop: hostLoop, configuration: configuration, logger: logger, log: log,
                                 snapshotStore: snapshotStore, groups: groups, stopped: stopped,
                                 requestBacklog: requestBacklog, background: background)
        }.get()

        var transportConfiguration = PeerTransportConfiguration(
            local: PeerAddress(id: local.id, zone: local.zone, host: listen.host, port: listen.port),
            clusterID: clusterID, peers: peers)
        transportConfiguration.pingInterval = .milliseconds(100)
        transportConfiguration.tls = configuration.peerTLS
        let handlers = PeerTransportHandlers(
            onReceive: { from, envelopes in
                // On a shared loop the messages are stepped right away, without a hop.
                if hostLoop.inEventLoop {
                    box.value?.receive(from: from, envelopes)
                } else {
                    hostLoop.execute { box.value?.receive(from: from, envelopes) }
                }
            },
            onUnreachable: { peer, groups in hostLoop.execute { box.value?.unreachable(peer, groups: groups) } },
            onHealthEvent: { event in hostLoop.execute { box.value?.healthChanged(event) } })
        let transport: PeerTransport
        do {
            transport = try await PeerTransport.start(configuration: transportConfiguration, eventLoop: transportLoop,
                                                      logger: logger, handlers: handlers)
        } catch {
            try? await hostLoop.submit { box.value?.stop(reason: "start failed") }.get()
            log.close()
            try? await loops.shutdownGracefully()
            throw HostStartError("peer transport cannot listen on \(local.peerAddress): \(error)")
        }
        // A failed storage stops the host; then it stops answering peers too (pings included), so
        // the others see it go silent and elect new leaders, quiesced groups included.
        stopped.futureResult.whenSuccess { reason in
            guard let reason else { return }
            logger.critical("closing the peer transport: this node no longer takes part in any group", metadata: ["reason": "\(reason)"])
            Task { try? await transport.stop() }
        }
        try await hostLoop.submit {
            box.value?.transport = transport
            box.value?.startTicking()
        }.get()
        logger.info("multi-raft host started", metadata: [
            "node": "\(local.id)", "zone": "\(local.zone)", "groups": "\(placement)", "peers": "\(transport.localAddress)"])
        return MultiRaftHost(configuration: configuration, eventLoop: hostLoop, core: box, log: log,
                             transport: transport, ownedLoops: loops, stopped: stopped.futureResult,
                             registry: registry, requestBacklog: requestBacklog, background: background,
                             logger: logger, initialMachine: initialMachine)
    }

    /// The cluster's members as this host knows them now: the founding ones and those added at
    /// runtime, without those removed (``setMembers(_:)``).
    public var members: [ClusterMember] { currentMembers.withLock { $0 } }

    /// Takes the cluster's membership as the shard map now records it (docs/migration.md,
    /// "Membership"): new members are connected (the lower id dials), removed ones disconnected.
    /// This node's own entry is kept whatever `members` says. Members with a malformed peer address
    /// are refused (the map validates them, so that would be a bug).
    public func setMembers(_ members: [ClusterMember]) async throws(HostError) {
        var peers: [PeerAddress] = []
        var kept: [ClusterMember] = []
        for member in members where member.id != configuration.nodeID {
            guard let address = ClusterMember.split(member.peerAddress) else {
                throw .invalid("bad peer address \"\(member.peerAddress)\" for node \(member.id): expected host:port")
            }
            peers.append(PeerAddress(id: member.id, zone: member.zone, host: address.host, port: address.port))
            kept.append(member)
        }
        if let local = configuration.localMember { kept.append(local) }
        kept.sort { $0.id < $1.id }
        currentMembers.withLock { $0 = kept }
        do {
            try await transport.setPeers(peers)
        } catch {
            throw .unavailable("the peer transport did not take the new members: \(error)")
        }
    }

    /// Proposes `data` to `group` (this node must lead it) and returns what the state machine
    /// produced once the entry is committed by a majority and applied here.
    public func propose(group: UInt64, data: [UInt8], timeout: TimeAmount? = nil)
        async throws(HostError) -> AppliedResult<Machine.ApplyResult>
    {
        try await Self.outcome(of: proposing(group: group, data: data, timeout: timeout))
    }

    /// ``propose(group:data:timeout:)`` without suspending: the future completes on the host loop,
    /// failed with a ``HostError``. Called on the host loop, the proposal enters Raft at once.
    public func proposing(group: UInt64, data: [UInt8], timeout: TimeAmount? = nil)
        -> EventLoopFuture<AppliedResult<Machine.ApplyResult>>
    {
        proposing(group: group, data: data, timeout: timeout, ahead: false, speculative: false)
    }

    /// ``proposing(group:data:timeout:)`` for an entry proposed ahead of any request (a potential
    /// journal entry): the same path, but not counted in ``requestBacklog``.
    public func proposingSpeculatively(group: UInt64, data: [UInt8], timeout: TimeAmount? = nil)
        -> EventLoopFuture<AppliedResult<Machine.ApplyResult>>
    {
        proposing(group: group, data: data, timeout: timeout, ahead: false, speculative: true)
    }

    /// ``proposing(group:data:timeout:)`` for a write that asked for `async` durability: a leader
    /// that can build its state ahead answers at once with the result the entry's commit will
    /// produce, before the entry is durable anywhere (docs/node.md, "Answers ahead of commit");
    /// otherwise the answer comes at commit, as for any proposal.
    public func proposingAhead(group: UInt64, data: [UInt8], timeout: TimeAmount? = nil)
        -> EventLoopFuture<AppliedResult<Machine.ApplyResult>>
    {
        proposing(group: group, data: data, timeout: timeout, ahead: true, speculative: false)
    }

    private func proposing(group: UInt64, data: [UInt8], timeout: TimeAmount?, ahead: Bool, speculative: Bool)
        -> EventLoopFuture<AppliedResult<Machine.ApplyResult>>
    {
        let promise = eventLoop.makePromise(of: AppliedResult<Machine.ApplyResult>.self)
        let core = self.core
        let wait = timeout ?? configuration.requestTimeout
        onHostLoop {
            guard let value = core.value else { return promise.fail(HostError.stopped("host stopped")) }
            if ahead {
                value.proposeAhead(group: group, data: data, timeout: wait, promise: promise)
            } else {
                value.propose(group: group, data: data, timeout: wait, speculative: speculative, promise: promise)
            }
        }
        return promise.futureResult
    }

    /// Runs `body` on `group`'s state machine. Linearizable: this node must lead the group; the read
    /// waits for a ReadIndex round and for the state machine to reach that index. Otherwise the
    /// replica's current state is read (possibly stale); either way the applied index is returned.
    public func read<Value: Sendable>(group: UInt64, linearizable: Bool, timeout: TimeAmount? = nil,
                                      _ body: @escaping @Sendable (Machine) -> Value) async throws(HostError) -> ReadResult<Value>
    {
        try await Self.outcome(of: reading(group: group, linearizable: linearizable, timeout: timeout, body))
    }

    /// ``read(group:linearizable:timeout:_:)`` without suspending: the future completes on the host
    /// loop, failed with a ``HostError``.
    public func reading<Value: Sendable>(group: UInt64, linearizable: Bool, timeout: TimeAmount? = nil,
                                         _ body: @escaping @Sendable (Machine) -> Value) -> EventLoopFuture<ReadResult<Value>>
    {
        let promise = eventLoop.makePromise(of: ReadResult<Value>.self)
        let core = self.core
        let wait = timeout ?? configuration.requestTimeout
        onHostLoop {
            guard let value = core.value else { return promise.fail(HostError.stopped("host stopped")) }
            value.read(group: group, linearizable: linearizable, timeout: wait, body: body, promise: promise)
        }
        return promise.futureResult
    }

    /// Runs `work` on the host loop: right away when already there, else as a task of the loop.
    func onHostLoop(_ work: @escaping @Sendable () -> Void) {
        if eventLoop.inEventLoop { work() } else { eventLoop.execute(work) }
    }

    /// Groups, roles, indexes, quiescence and the peers' health. With `digests`, each group's
    /// state digest too: O(state size) each, so it is computed off the host loop, over copies of
    /// the state machines taken on the loop with the rest of the status (a copy is cheap: the
    /// state is copy-on-write in parts, docs/metadata.md). Periodic sampling leaves it out.
    public func status(digests: Bool = true) async -> HostStatus? {
        let core = self.core
        let taken = try? await eventLoop.submit { () -> (HostStatus, [UInt64: Machine])? in
            guard let core = core.value else { return nil }
            return (core.status(), digests ? core.stateMachineCopies() : [:])
        }.get()
        guard var status = taken?.0 else { return nil }
        if let machines = taken?.1, !machines.isEmpty {
            let computed = await Self.stateDigests(of: machines)
            for offset in status.groups.indices { status.groups[offset].stateDigest = computed[status.groups[offset].group] ?? 0 }
        }
        if let health = try? await transport.health() {
            status.health = health
            status.healthNow = NIODeadline.now().uptimeNanoseconds
        }
        return status
    }

    /// The digests of `machines`, computed on a background queue (seconds for a state of a few
    /// hundred megabytes: neither an event loop nor the cooperative pool waits for it).
    private static func stateDigests(of machines: [UInt64: Machine]) async -> [UInt64: UInt64] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(returning: machines.mapValues(\.stateDigest))
            }
        }
    }

    /// Per-peer transport counters.
    public func transportStatistics() async -> [NodeID: PeerLinkStatistics] {
        (try? await transport.statistics()) ?? [:]
    }

    /// Behaves exactly as if the write-ahead log had failed (a failed fsync): for failure drills
    /// and tests (`almanac serve --debug-storage-failure-signal`).
    public func injectStorageFailure(_ reason: String) {
        let core = self.core
        onHostLoop { core.value?.fail(storage: .stopped(reason: reason)) }
    }

    /// Closes the peer connection to `peer` (it reconnects by itself): for failure drills and tests.
    public func dropConnection(to peer: NodeID) async {
        try? await transport.dropConnection(to: peer)
    }

    /// Waits until the host stops; returns the reason if its storage failed, nil if it was stopped.
    public func waitUntilStopped() async -> String? {
        (try? await stopped.get()) ?? nil
    }

    /// Stops ticking, fails what waits, closes the transport and the storage.
    public func stop() async {
        let core = self.core
        try? await eventLoop.submit { core.value?.stop(reason: "node shutting down") }.get()
        try? await transport.stop()
        try? await eventLoop.submit { core.value = nil }.get()
        log.close()
        // Snapshot and purge work still running reports back to the loop: let it land first (after
        // the loop has run what the log's last completions queued, which may start such work).
        try? await eventLoop.submit {}.get()
        if await !background.drained(within: 10) {
            logger.warning("stopping with background snapshot or purge work still running after 10 s")
        }
        try? await ownedLoops.shutdownGracefully()
    }

    /// A recovered group before it moves onto the host loop.
    private struct GroupSeed: Sendable {
        var id: UInt64
        var raft: RaftNode
        var machine: Machine
        var applied: LogIndex
        var appliedTerm: Term
        /// The snapshot file the log records (sent from the store to lagging followers as it is).
        var snapshotFile: SnapshotReference?
    }

    static func outcome<Value: Sendable>(of future: EventLoopFuture<Value>) async throws(HostError) -> Value {
        do {
            return try await future.get()
        } catch let error as HostError {
            throw error
        } catch {
            throw HostError.unavailable("\(error)")
        }
    }
}

/// Why a host could not start.
public struct HostStartError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
