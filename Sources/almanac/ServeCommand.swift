import AlmanacClient
import AlmanacControl
import AlmanacController
import AlmanacCoordinator
import AlmanacKeyspace
import AlmanacNode
import AlmanacOperations
import AlmanacSecurity
import AlmanacServer
import AlmanacShardMap
import AlmanacWire
import ArgumentParser
import Dispatch
import Foundation
import Logging
import NIOSSL
import Synchronization

/// `almanac serve`: runs one node (multi-Raft host, peer transport, client API) until SIGINT/SIGTERM.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run one Almanac node.",
        discussion: """
            Either --config FILE (JSON, see docs/node.md) or the flags. --member lists every node of the
            cluster as id,zone,peerHost:port,apiHost:port (repeat it; this node's entry may be omitted when
            --peer-listen and --api-listen are given). Prints one line starting with "almanac node" and
            containing "ready" when it serves. Exit codes: 0 stopped by a signal, 1 failure, 2 usage.
            """
    )

    @Option(help: "JSON configuration file (replaces the other flags).")
    var config: String?

    @Option(help: "This node's id (positive).")
    var id: UInt64?

    @Option(help: "This node's zone label.")
    var zone: String?

    @Option(name: .customLong("peer-listen"), help: "host:port for Raft traffic between nodes.")
    var peerListen: String?

    @Option(name: .customLong("api-listen"), help: "host:port for the client API.")
    var apiListen: String?

    @Option(name: .customLong("member"), help: "A cluster member: id,zone,peerHost:port,apiHost:port (repeatable).")
    var members: [String] = []

    @Flag(name: .customLong("join"),
          help: "This node joins a running cluster: --member lists the founding members, this node's entry comes from --peer-listen and --api-listen (add it first with `almanac ctl node add`).")
    var join = false

    @Option(name: .customLong("data-dir"), help: "Directory for the write-ahead log and snapshots.")
    var dataDir: String?

    @Option(help: "Number of journal shards (Raft groups) in the cluster.")
    var shards: Int = 4

    @Option(name: .customLong("shard-map"),
            help: "Where the shard map lives: embedded (the cluster's system Raft group), static (computed from the configuration, never changes) or etcd://host:port,...[/prefix].")
    var shardMapOption: String = "embedded"

    @Option(name: .customLong("cluster-id"), help: "Cluster name; nodes refuse peers of another cluster.")
    var clusterID: String = "almanac"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .customLong("debug-storage-failure-signal"), help: .hidden)
    var debugStorageFailureSignal: Int32?

    @Flag(name: .customLong("unsafe-no-fsync"),
          help: "UNSAFE, tests only: skip every fsync of the WAL and snapshots (acknowledged writes can be lost at a power cut).")
    var unsafeNoFsync = false

    @Flag(name: .customLong("allow-fewer-zones"),
          help: "Accept fewer than 3 distinct zones (single-machine tests only: such a cluster does not survive a zone failure).")
    var allowFewerZones = false

    @Option(name: .customLong("log-format"), help: "text (default) or json (one JSON object per line on stderr).")
    var logFormat: String = "text"

    @OptionGroup(title: "Predictive journaling")
    var prefetch: PrefetchOptions

    @Option(name: .customLong("metrics-listen"),
            help: "host:port for the operations endpoint: /metrics (Prometheus), /healthz, /readyz (off when absent).")
    var metricsListen: String?

    @OptionGroup var security: ServeSecurityOptions

    @OptionGroup(title: "Placement controller")
    var controllerOptions: ControllerOptions

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        do {
            _ = try LogFormat.parse(logFormat)
            if let metricsListen { _ = try ListenAddress.parse(metricsListen) }
        } catch {
            throw ValidationError("\(error)")
        }
        if config == nil {
            guard id != nil, zone != nil, dataDir != nil else {
                throw ValidationError("give --config FILE, or --id, --zone, --data-dir and the addresses")
            }
        }
    }

    func nodeConfig() throws -> NodeConfigFile {
        if let config {
            guard allowFewerZones else { return try NodeConfigFile.load(path: config) }
            // The flag overrides the file; load without validating, then validate with the opt-in.
            guard let data = FileManager.default.contents(atPath: config) else { throw NodeConfigError("cannot read config file \(config)") }
            var file: NodeConfigFile
            do {
                file = try JSONDecoder().decode(NodeConfigFile.self, from: data)
            } catch {
                throw NodeConfigError("config file \(config) is not valid: \(error)")
            }
            file.allowFewerZones = true
            try file.validate()
            return file
        }
        guard let id, let zone, let dataDir else { throw ValidationError("--id, --zone and --data-dir are required") }
        var list = try members.map { text throws(NodeConfigError) in try NodeConfigFile.parseMember(text) }
        var joined: [ClusterMember]?
        if join {
            guard !list.contains(where: { $0.id == id }) else {
                throw ValidationError("--join: this node (\(id)) is among --member, which lists the founding members")
            }
            guard let peerListen, let apiListen else { throw ValidationError("--join needs --peer-listen and --api-listen") }
            joined = [ClusterMember(id: id, zone: zone, peerAddress: peerListen, apiAddress: apiListen)]
        } else if !list.contains(where: { $0.id == id }) {
            guard let peerListen, let apiListen else {
                throw ValidationError("this node (\(id)) is not among --member; give --peer-listen and --api-listen")
            }
            list.append(ClusterMember(id: id, zone: zone, peerAddress: peerListen, apiAddress: apiListen))
        }
        var file = NodeConfigFile(id: id, zone: zone, dataDirectory: dataDir, shards: shards, clusterID: clusterID, members: list,
                                  allowFewerZones: allowFewerZones ? true : nil)
        file.joinedMembers = joined
        try file.validate()
        return file
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap((LogFormat(rawValue: logFormat) ?? .text).makeHandlerFactory(level: level))
        // Metrics only when an endpoint serves them (no observers, no cost, otherwise).
        let metricsAddress: ListenAddress?
        do {
            metricsAddress = try metricsListen.map { text throws(ListenAddressError) in try ListenAddress.parse(text) }
        } catch {
            throw ValidationError("\(error)")
        }
        let metrics = metricsAddress.map { _ in NodeMetrics() }
        metrics?.bootstrapMetricsSystem()
        let file: NodeConfigFile
        let prefetchSettings: PrefetchSettings
        do {
            file = prefetch.applied(to: try nodeConfig())
            prefetchSettings = try PrefetchOptions.settings(for: file)
        } catch let error as NodeConfigError {
            throw ValidationError(error.description)
        } catch let error as PrefetchConfigurationError {
            throw ValidationError(error.description)
        }
        if file.allowFewerZones == true, Set(file.members.map(\.zone)).count < ReplicaPlacement.minimumZones {
            FileHandle.standardError.write(Data(("warning: \(Set(file.members.map(\.zone)).count) zone(s) accepted by the opt-in; "
                + "this cluster does not survive the loss of a zone\n").utf8))
        }
        var logger = Logger(label: "almanac.node")
        logger[metadataKey: "node"] = "\(file.id)"
        guard let me = file.localMember, let api = ClusterMember.split(me.apiAddress) else {
            throw ValidationError("node \(file.id) has no API address")
        }

        // TLS (docs/security.md): one context for the client API, one for mutual TLS between nodes.
        let tls = security.files
        let apiTLS: NIOSSLContext?, peerTLS: NIOSSLContext?
        do {
            apiTLS = try tls?.makeAPIServerContext()
            peerTLS = try tls?.makePeerContext()
        } catch {
            logger.critical("TLS set-up failed: \(error)")
            throw ExitCode.failure
        }
        let clientTLS: NIOSSLContext?
        do {
            clientTLS = try tls.map { try AlmanacClientConfiguration.tlsContext(trusting: $0.certificateAuthority) }
        } catch {
            logger.critical("TLS set-up failed: \(error)")
            throw ExitCode.failure
        }

        // Tokens (docs/security.md): the node checks every request's token, and mints itself an admin
        // token (in memory) for its own cross-shard and authorization traffic to the other nodes.
        var tokens: (authority: TokenAuthority, nodeToken: String)?
        if let keyFile = security.tokenKey {
            do {
                let authority = try await TokenAuthority.load(keyFile: keyFile)
                let nodeToken = try await authority.issue(AccessGrant(
                    subject: "node-\(file.id)", read: [], write: [], admin: true, expires: Date().addingTimeInterval(10 * 365 * 86_400)))
                tokens = (authority, nodeToken)
            } catch {
                logger.critical("token set-up failed: \(error)")
                throw ExitCode.failure
            }
        }

        let signals = SignalWaiter(signals: [SIGINT, SIGTERM])
        let loadedMap: ShardMapBootstrap.Loaded
        do {
            loadedMap = try await ShardMapBootstrap.load(option: shardMapOption, file: file, logger: logger)
        } catch let error as ValidationError {
            throw error
        } catch {
            logger.critical("cannot build the shard map: \(error)")
            throw ExitCode.failure
        }
        let map = loadedMap.map
        let liveMap = LiveShardMap(map: map, backend: loadedMap.backend)
        // Cross-shard operations, the embedded map store and the controller reach the other nodes
        // through the client protocol (any node reaches every shard's leader).
        var coordinatorClientConfiguration = AlmanacClientConfiguration(endpoints: file.members.map(\.apiAddress))
        coordinatorClientConfiguration.initialShardMap = map
        coordinatorClientConfiguration.clientName = "almanac-coordinator-\(file.id)"
        coordinatorClientConfiguration.tls = clientTLS
        coordinatorClientConfiguration.authToken = tokens?.nodeToken
        // A node joining a running cluster reads the stored map first: it must be listed
        // (`ctl node add`), and it starts knowing every member added before it.
        var joinedMembers = file.joinedMembers ?? []
        if file.joinedAtRuntime {
            let stored: ShardMap
            do {
                stored = try await ShardMapBootstrap.loadForJoin(loadedMap, file: file, client: coordinatorClientConfiguration, logger: logger)
            } catch {
                logger.critical("node \(file.id) cannot join: \(error)")
                throw ExitCode.failure
            }
            if let verdict = MembershipFollower.verdict(on: stored, node: file.id, joinedAtRuntime: true) {
                logger.critical("\(verdict.description)")
                throw ExitCode.failure
            }
            liveMap.update(stored)
            joinedMembers = stored.joinedMembers
        }
        let systemApplied = AppliedIndexSignal()
        let host: MultiRaftHost<MetadataReplica>
        do {
            var configuration = file.hostConfiguration
            configuration.joinedMembers = joinedMembers
            if let metrics { configuration.observer = metrics.hostObserver }
            if loadedMap.embedded {
                configuration.systemGroups = [SystemGroup.groupID]
                configuration.observer.applied = { group, index in
                    if group == SystemGroup.groupID { systemApplied.advance(to: index) }
                }
            }
            configuration.peerTLS = peerTLS
            if unsafeNoFsync {
                configuration.unsafeNoFsync = true
                logger.warning("--unsafe-no-fsync: the WAL and snapshots are never synced; acknowledged writes can be lost at a power cut")
            }
            // A replica's state before its log's first entry must be the same on every replica for
            // the cluster's whole life (a replica replaying its log from index 1, or one added at
            // runtime, must reach the founders' states): the founding map of the configuration,
            // never the current map, whose ownership hand-offs have changed since.
            let foundingMap = try MetadataReplica.initialMap(shardCount: file.shards, members: file.members)
            host = try await MultiRaftHost<MetadataReplica>.start(
                configuration: configuration, dataDirectory: file.dataDirectory, clusterID: file.clusterID, logger: logger,
                initialMachine: { MetadataReplica.initial(group: $0, map: foundingMap) })
        } catch {
            logger.critical("node failed to start: \(error)")
            throw ExitCode.failure
        }
        // The resolver settles transactions whose coordinator died.
        let coordinator = TransactionCoordinator(
            transport: ClientTransactionTransport(client: AlmanacClient(configuration: coordinatorClientConfiguration), host: host, live: liveMap),
            logger: Logger(label: "almanac.coordinator"))
        let service = ReplicatedMetadataService(host: host, crossShard: coordinator, prefetch: prefetchSettings,
                                                systemApplied: loadedMap.embedded ? systemApplied : nil, liveMap: liveMap)
        let resolver = TransactionResolver(coordinator: coordinator, logger: Logger(label: "almanac.resolver"))
        let resolving = Task { await resolver.run() }
        let translator = RequestTranslator(
            map: map, clientAddresses: Dictionary(file.knownMembers.map { ($0.id, $0.apiAddress) }, uniquingKeysWith: { first, _ in first }),
            mapBackend: loadedMap.backend, live: liveMap)
        let mapWatch = ShardMapBootstrap.watch(loadedMap, live: liveMap, file: file, logger: logger)
        let server: APIServer
        var apiConfiguration = APIServerConfiguration(host: api.host, port: api.port, translator: translator)
        apiConfiguration.requestObserver = metrics?.requestObserver
        apiConfiguration.tls = apiTLS
        if let tokens {
            var probeConfiguration = coordinatorClientConfiguration
            probeConfiguration.clientName = "almanac-authorizer-\(file.id)"
            apiConfiguration.authorizer = RequestAuthorizer(
                tokens: tokens.authority, probe: ClientNamespaceProbe(client: AlmanacClient(configuration: probeConfiguration)))
        }
        let controllerSettings = try controllerOptions.settings()
        apiConfiguration.accessMonitor = try? SegmentAccessMonitor(
            zoneNames: file.knownMembers.map(\.zone), zone: file.zone, bucketSeconds: controllerSettings.settings.bucketSeconds,
            windowBuckets: max(60, controllerSettings.settings.seasonBuckets * 2 + 8), segmentCount: map.keying.segmentCount)
        let placementEndpoint = PlacementCallEndpoint()
        apiConfiguration.placement = placementEndpoint
        do {
            server = try await APIServer.start(
                service: service, configuration: apiConfiguration,
                // Client connections share the host's event loop: a request is decoded, proposed,
                // applied and answered on one thread, without hand-offs.
                group: host.eventLoop, logger: Logger(label: "almanac.api"))
        } catch {
            logger.critical("client API cannot listen on \(me.apiAddress): \(error)")
            await host.stop()
            throw ExitCode.failure
        }
        var operations: OperationsHTTPServer?
        let consoleControlPlane = ConsoleControlPlane()
        if let metrics, let metricsAddress {
            do {
                let console = ConsoleSource.make(
                    executor: RequestExecutor(service: service, translator: translator, access: apiConfiguration.accessMonitor),
                    nodeID: file.id, members: file.members, clientConfiguration: coordinatorClientConfiguration,
                    controlPlane: consoleControlPlane)
                let accessMonitor = apiConfiguration.accessMonitor
                let sample: @Sendable () async -> ServiceSample = {
                    let map = service.liveMap?.current
                    let segments = (accessMonitor?.loads() ?? []).map { load in
                        var heat = Almanac_Api_V1_SegmentLoad()
                        heat.segment = UInt32(load.segment)
                        heat.shard = UInt32(map?.shard(ofSegment: load.segment) ?? 0)
                        heat.reads = load.reads
                        heat.writes = load.writes
                        return heat
                    }
                    return ServiceSample(prefetch: service.prefetcher?.status() ?? [], segments: segments)
                }
                operations = try await NodeOperations.start(host: host, metrics: metrics, address: metricsAddress,
                                                            logger: Logger(label: "almanac.operations"), console: console,
                                                            service: sample)
            } catch {
                logger.critical("operations endpoint cannot listen on \(metricsAddress): \(error)")
                await server.shutdown()
                await host.stop()
                throw ExitCode.failure
            }
        }
        if let operations {
            FileHandle.standardOutput.write(Data(("almanac node \(file.id) operations: \(operations.baseURL)/metrics "
                + "\(operations.baseURL)/healthz \(operations.baseURL)/readyz console: \(operations.baseURL)/console\n").utf8))
        }
        // The embedded map store is a client of the system group: it starts once this node serves.
        var mapFollower: Task<Void, Never>?
        var healthProbe: Task<Void, Never>?
        var embeddedStore: EmbeddedShardMapStore?
        if loadedMap.embedded {
            do {
                let embedded = try ShardMapBootstrap.startEmbedded(loadedMap, live: liveMap, file: file, client: coordinatorClientConfiguration, logger: logger)
                mapFollower = embedded.task
                embeddedStore = embedded.store
                healthProbe = ShardMapBootstrap.probeHealth(embedded.store, live: liveMap)
            } catch {
                logger.critical("the embedded shard map store cannot start: \(error)")
                await server.shutdown()
                await host.stop()
                throw ExitCode.failure
            }
        } else if let store = loadedMap.store {
            healthProbe = ShardMapBootstrap.probeHealth(store, live: liveMap)
        }
        // The placement controller (docs/controller.md): every node competes for the lease in the map store.
        var controllerTask: Task<Void, Never>?
        let controlStore: (any ShardMapStore & ControlRecordStore)? = embeddedStore ?? (loadedMap.store as? any ShardMapStore & ControlRecordStore)
        if !controllerOptions.noController, let controlStore {
            var configuration = ControllerServiceConfiguration(node: file.id, settings: controllerSettings.settings, client: coordinatorClientConfiguration)
            configuration.client.clientName = "almanac-controller-\(file.id)"
            configuration.initialMode = controllerSettings.mode
            let service = ControllerService(configuration: configuration, store: controlStore, logger: Logger(label: "almanac.controller"))
            controllerTask = Task { await service.run() }
        }
        // The seed's placement API over the client protocol (PlacementRequest): answered here with
        // the controller's inputs and drivers, whether or not this node runs the controller.
        var placementCalls: PlacementCalls?
        if let controlStore {
            var configuration = coordinatorClientConfiguration
            configuration.clientName = "almanac-placement-\(file.id)"
            let calls = PlacementCalls(store: controlStore, configuration: configuration, settings: controllerSettings.settings,
                                       logger: Logger(label: "almanac.placement"))
            placementEndpoint.install { request in
                await calls.answer(request).mapError { APIError($0.code, $0.message) }
            }
            placementCalls = calls
            consoleControlPlane.install(ControlPlanePanes(store: controlStore, settings: controllerSettings.settings))
        }
        FileHandle.standardOutput.write(Data(("almanac node \(file.id) (zone \(file.zone)) ready: api=\(server.endpoint) "
            + "peer=\(me.peerAddress) shards=\(file.shards) data=\(file.dataDirectory) "
            + (tls == nil ? "tls=off (--insecure)" : "tls=on") + (tokens == nil ? " tokens=off\n" : " tokens=on\n")).utf8))

        // Failure drills and tests: this signal makes the host behave as if its WAL had failed.
        let drill = debugStorageFailureSignal.map { SignalWaiter(signals: [$0]) }
        if let drill {
            Task {
                let number = await drill.wait()
                host.injectStorageFailure("injected by signal \(number) (--debug-storage-failure-signal)")
            }
        }
        // The cluster's membership as the map records it (nodes added and removed at runtime).
        let membershipLogger = logger
        let membership = Task {
            await MembershipFollower.follow(host: host, live: liveMap, joinedAtRuntime: file.joinedAtRuntime, logger: membershipLogger)
        }
        // Whichever comes first: a stop signal (nil), the host stopping itself (the reason), or the
        // map saying this node is no member (the verdict).
        enum StopCause: Sendable { case signal, hostStopped(String), membership(MembershipFollower.Verdict) }
        let stopLogger = logger
        let cause: StopCause = await withCheckedContinuation { continuation in
            let once = OnceFlag()
            Task {
                let signal = await signals.wait()
                guard once.claim() else { return }
                stopLogger.notice("signal \(signal) received; stopping")
                continuation.resume(returning: .signal)
            }
            host.stopped.whenComplete { result in
                guard once.claim() else { return }
                continuation.resume(returning: .hostStopped((try? result.get()) ?? "the host stopped"))
            }
            Task {
                guard let verdict = await membership.value, once.claim() else { return }
                continuation.resume(returning: .membership(verdict))
            }
        }
        membership.cancel()
        var stopped: String?
        var membershipExit: MembershipFollower.Verdict?
        switch cause {
        case .signal: break
        case .hostStopped(let reason): stopped = reason
        case .membership(let verdict): membershipExit = verdict
        }
        resolving.cancel()
        // Not awaited: a move in flight ends with the process; its intent stays in the map for the next holder.
        controllerTask?.cancel()
        await placementCalls?.shutdown()
        mapWatch?.cancel()
        mapFollower?.cancel()
        healthProbe?.cancel()
        await loadedMap.store?.shutdown()
        await embeddedStore?.shutdown()
        if let reason = stopped {
            await operations?.shutdown()
            // The log cannot be trusted: do not linger as a half-alive member. The host already
            // stopped its groups and peer traffic; close the client API and exit non-zero so a
            // supervisor (or `almanac dev`) shows the failure.
            logger.critical("node \(file.id) stops serving and exits: \(reason); the other replicas elect new leaders. Check the disk under \(file.dataDirectory) before restarting it.")
            await server.shutdown()
            await host.stop()
            throw ExitCode.failure
        }
        await operations?.shutdown()
        await server.shutdown()
        await host.stop()
        if let membershipExit {
            if membershipExit.removed {
                logger.notice("\(membershipExit.description); its data under \(file.dataDirectory) may be deleted")
                return
            }
            logger.critical("\(membershipExit.description)")
            throw ExitCode.failure
        }
        logger.notice("stopped")
    }
}

/// Waits for one of some signals (delivered through Dispatch, not an async-unsafe handler).
final class SignalWaiter: Sendable {
    /// Kept alive for the process's lifetime; only touched in `init`.
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>
    private let last = SignalBox()

    init(signals: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        let last = self.last
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                last.set(number)
                continuation.yield(number)
            }
            source.resume()
            return source
        }
    }

    /// The most recent signal received, if any (for polling loops).
    var received: Int32? { last.value }

    /// The next signal received.
    func wait() async -> Int32 {
        for await number in stream { return number }
        return SIGTERM
    }
}

/// The last signal number seen (thread-safe).
final class SignalBox: Sendable {
    private let storage = Mutex<Int32?>(nil)
    var value: Int32? { storage.withLock { $0 } }
    func set(_ number: Int32) { storage.withLock { $0 = number } }
}

/// True for the first caller of `claim()` only (thread-safe).
final class OnceFlag: Sendable {
    private let claimed = Mutex(false)
    func claim() -> Bool {
        claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}
