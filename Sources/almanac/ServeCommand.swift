import AlmanacClient
import AlmanacCoordinator
import AlmanacKeyspace
import AlmanacNode
import AlmanacServer
import ArgumentParser
import Dispatch
import Foundation
import Logging
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

    @Option(name: .customLong("data-dir"), help: "Directory for the write-ahead log and snapshots.")
    var dataDir: String?

    @Option(help: "Number of journal shards (Raft groups) in the cluster.")
    var shards: Int = 4

    @Option(name: .customLong("cluster-id"), help: "Cluster name; nodes refuse peers of another cluster.")
    var clusterID: String = "almanac"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        if config == nil {
            guard id != nil, zone != nil, dataDir != nil else {
                throw ValidationError("give --config FILE, or --id, --zone, --data-dir and the addresses")
            }
        }
    }

    func nodeConfig() throws -> NodeConfigFile {
        if let config { return try NodeConfigFile.load(path: config) }
        guard let id, let zone, let dataDir else { throw ValidationError("--id, --zone and --data-dir are required") }
        var list = try members.map { text throws(NodeConfigError) in try NodeConfigFile.parseMember(text) }
        if !list.contains(where: { $0.id == id }) {
            guard let peerListen, let apiListen else {
                throw ValidationError("this node (\(id)) is not among --member; give --peer-listen and --api-listen")
            }
            list.append(ClusterMember(id: id, zone: zone, peerAddress: peerListen, apiAddress: apiListen))
        }
        let file = NodeConfigFile(id: id, zone: zone, dataDirectory: dataDir, shards: shards, clusterID: clusterID, members: list)
        try file.validate()
        return file
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let file: NodeConfigFile
        do {
            file = try nodeConfig()
        } catch let error as NodeConfigError {
            throw ValidationError(error.description)
        }
        var logger = Logger(label: "almanac.node")
        logger[metadataKey: "node"] = "\(file.id)"
        guard let me = file.members.first(where: { $0.id == file.id }), let api = ClusterMember.split(me.apiAddress) else {
            throw ValidationError("node \(file.id) has no API address")
        }

        let signals = SignalWaiter(signals: [SIGINT, SIGTERM])
        let map: ShardMap
        do {
            map = try MetadataReplica.initialMap(shardCount: file.shards, members: file.members)
        } catch {
            logger.critical("cannot build the shard map: \(error)")
            throw ExitCode.failure
        }
        let host: MultiRaftHost<MetadataReplica>
        do {
            host = try await MultiRaftHost<MetadataReplica>.start(
                configuration: file.hostConfiguration, dataDirectory: file.dataDirectory, clusterID: file.clusterID, logger: logger,
                initialMachine: { MetadataReplica.initial(group: $0, map: map) })
        } catch {
            logger.critical("node failed to start: \(error)")
            throw ExitCode.failure
        }
        // Cross-shard operations are coordinated through the client protocol (any node reaches every
        // shard's leader); the resolver settles transactions whose coordinator died.
        var coordinatorClientConfiguration = AlmanacClientConfiguration(endpoints: file.members.map(\.apiAddress))
        coordinatorClientConfiguration.initialShardMap = map
        coordinatorClientConfiguration.clientName = "almanac-coordinator-\(file.id)"
        let coordinator = TransactionCoordinator(
            transport: ClientTransactionTransport(client: AlmanacClient(configuration: coordinatorClientConfiguration), host: host),
            logger: Logger(label: "almanac.coordinator"))
        let service = ReplicatedMetadataService(host: host, crossShard: coordinator)
        let resolver = TransactionResolver(coordinator: coordinator, logger: Logger(label: "almanac.resolver"))
        let resolving = Task { await resolver.run() }
        let translator = RequestTranslator(
            map: map, clientAddresses: Dictionary(file.members.map { ($0.id, $0.apiAddress) }, uniquingKeysWith: { first, _ in first }),
            mapBackend: "static")
        let server: APIServer
        do {
            server = try await APIServer.start(
                service: service, configuration: APIServerConfiguration(host: api.host, port: api.port, translator: translator),
                // Client connections share the host's event loop: a request is decoded, proposed,
                // applied and answered on one thread, without hand-offs.
                group: host.eventLoop, logger: Logger(label: "almanac.api"))
        } catch {
            logger.critical("client API cannot listen on \(me.apiAddress): \(error)")
            await host.stop()
            throw ExitCode.failure
        }
        FileHandle.standardOutput.write(Data(("almanac node \(file.id) (zone \(file.zone)) ready: api=\(server.endpoint) "
            + "peer=\(me.peerAddress) shards=\(file.shards) data=\(file.dataDirectory)\n").utf8))

        let signal = await signals.wait()
        logger.notice("signal \(signal) received; stopping")
        resolving.cancel()
        await server.shutdown()
        await host.stop()
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
