import AlmanacClient
import AlmanacKeyspace
import AlmanacNode
import AlmanacOperations
import AlmanacSecurity
import ArgumentParser
import Foundation
import NIOCore

/// `almanac dev`: a 3-zone cluster on this machine, as three `almanac serve` child processes on loopback.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Start a local multi-zone cluster (3 node processes in 3 zones on loopback by default) and stop it on Ctrl-C.",
        discussion: """
            Node i (1...--nodes, default 3) is in zone-<a|b|c|...> (zone number (i - 1) mod --zones), serves
            clients on 127.0.0.1:<base-port + i> and peers on
            127.0.0.1:<base-port + 10 + i>, and serves /metrics, /healthz and /readyz on
            127.0.0.1:<base-port + 20 + i> (docs/operations.md). Data and logs go under --data-dir (node<i>/, node<i>.json,
            node<i>.log); a restart on the same directory recovers the cluster. A node that dies is reported and
            the others keep running; `almanac ctl node stop|kill|start|status N --data-dir DIR` stops, kills
            and restarts nodes through the control socket DIR/dev.sock. Exit codes: 0 stopped by
            Ctrl-C/SIGTERM, 1 start-up failed, 2 usage.
            """
    )

    @Option(name: .customLong("data-dir"), help: "Directory for all nodes' data, configs and logs.")
    var dataDir: String = "./almanac-dev-data"

    @Option(name: .customLong("base-port"), help: "Client ports are base+1...base+N, peer ports base+11...base+10+N, metrics base+21...")
    var basePort: Int = 7100

    @Option(help: "Number of journal shards (Raft groups).")
    var shards: Int = 4

    @Option(help: "Number of nodes (1...9); node i is in zone number (i - 1) mod --zones.")
    var nodes: Int = 3

    @Option(help: "Number of zones (3...--nodes): each shard has one replica per zone, on one of the zone's nodes.")
    var zones: Int = 3

    @Option(name: .customLong("snapshot-every"),
            help: "Entries of a shard between its snapshots (each node's config file, snapshotEveryEntries); default: the node's (100000).")
    var snapshotEvery: UInt64?

    @Option(name: .customLong("log-level"), help: "Log level of the nodes (their logs go to node<i>.log).")
    var logLevel: String = "info"

    @Option(name: .customLong("log-format"), help: "Log format of the nodes: text or json.")
    var logFormat: String = "text"

    @Option(name: .customLong("measure-creates"),
            help: "Measure: once up, time this many sequential creates from one client, print p50/p99, then stop.")
    var measureCreates: Int?

    @Flag(help: "Run the nodes in plaintext (serve --insecure) instead of generating a CA and node certificates.")
    var insecure = false

    @Flag(name: .customLong("unsafe-no-fsync"),
          help: "UNSAFE, tests only: the nodes skip every fsync (serve --unsafe-no-fsync); the power-cut test's negative control.")
    var unsafeNoFsync = false

    @Flag(name: .customLong("no-auth"), help: "Do not check access tokens (by default dev makes a signing key and prints a token).")
    var noAuth = false

    @OptionGroup(title: "Predictive journaling (written into each node's config file)")
    var prefetch: PrefetchOptions

    @OptionGroup(title: "Placement controller")
    var controllerOptions: ControllerOptions

    func validate() throws {
        if let measureCreates, !(1...1_000_000).contains(measureCreates) {
            throw ValidationError("--measure-creates must be in 1...1000000")
        }
        guard (1...65_000).contains(basePort) else { throw ValidationError("--base-port must be in 1...65000") }
        guard (1...4096).contains(shards) else { throw ValidationError("--shards must be in 1...4096") }
        guard (3...9).contains(nodes) else { throw ValidationError("--nodes must be in 3...9 (ports base+1...base+9)") }
        guard (3...nodes).contains(zones) else {
            throw ValidationError("--zones must be in 3...\(nodes) (at least 3 zones, so that a majority survives a zone; at most one zone per node)")
        }
        do { _ = try LogFormat.parse(logFormat) } catch { throw ValidationError("\(error)") }
        _ = try controllerOptions.settings()
    }

    static func zoneName(_ index: Int) -> String { "zone-" + String(UnicodeScalar(UInt8(97 + index))) }

    func run() async throws {
        let root = URL(fileURLWithPath: dataDir).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let members = (1...nodes).map { i in
            ClusterMember(id: UInt64(i), zone: Self.zoneName((i - 1) % zones), peerAddress: "127.0.0.1:\(basePort + 10 + i)",
                          apiAddress: "127.0.0.1:\(basePort + i)")
        }
        let signals = SignalWaiter(signals: [SIGINT, SIGTERM])
        for member in members {
            let config = prefetch.applied(to: NodeConfigFile(
                id: member.id, zone: member.zone, dataDirectory: "\(root)/node\(member.id)",
                shards: shards, clusterID: "almanac", members: members, snapshotEveryEntries: snapshotEvery))
            do {
                try config.validate()  // e.g. at least 3 distinct zones
                _ = try PrefetchOptions.settings(for: config)
            } catch {
                throw ValidationError("node \(member.id): \(error)")
            }
            try config.encoded().write(to: URL(fileURLWithPath: "\(root)/node\(member.id).json"))
        }
        // TLS by default: a throwaway CA and node certificates under DATA/tls (kept across restarts).
        let certificates: DevCertificates.Layout?
        do {
            certificates = insecure ? nil : try Self.devCertificates(root: root, nodes: members.map(\.id))
        } catch {
            throw ValidationError("cannot generate the dev certificates: \(error)")
        }
        // Tokens by default: a signing key in DATA/tls/token-key and a token for all of the namespace.
        let tokenKey = "\(root)/tls/token-key"
        var devToken: String?
        if !noAuth {
            do {
                if !FileManager.default.fileExists(atPath: tokenKey) {
                    try FileManager.default.createDirectory(atPath: "\(root)/tls", withIntermediateDirectories: true)
                    try TokenAuthority.generateKeyFile(at: tokenKey)
                }
                devToken = try await TokenAuthority.load(keyFile: tokenKey).issue(
                    AccessGrant(subject: "dev", read: [], write: ["/"], expires: Date().addingTimeInterval(7 * 86_400)))
            } catch {
                throw ValidationError("cannot make the dev token key: \(error)")
            }
        }
        let extraArguments = Dictionary(uniqueKeysWithValues: members.map { member in
            var arguments = ["--log-format", logFormat, "--metrics-listen", metricsAddress(member)] + controllerOptions.serveArguments
            if !noAuth { arguments += ["--token-key", tokenKey] }
            if unsafeNoFsync { arguments.append("--unsafe-no-fsync") }
            if let files = certificates?.node(member.id) {
                arguments += ["--tls-cert", files.certificate, "--tls-key", files.privateKey, "--tls-ca", files.certificateAuthority]
            } else {
                arguments.append("--insecure")
            }
            return (member.id, arguments)
        })
        let supervisor = DevSupervisor(members: members, root: root, executable: Self.executablePath(), logLevel: logLevel,
                                       extraArguments: extraArguments, say: { Self.say($0) })
        // The control socket first: it also refuses a second dev on the same directory.
        let control: (any Channel)?
        do {
            control = try await DevControlServer.start(root: root, supervisor: supervisor)
        } catch {
            if error.description.hasPrefix("another almanac dev") { throw ValidationError(error.description) }
            Self.say("warning: \(error.description); `almanac ctl node` will not work for this cluster")
            control = nil
        }
        func shutdown() async {
            try? await control?.close()
            try? FileManager.default.removeItem(atPath: DevControlServer.socketPath(root: root))
            await supervisor.stopAll()
        }
        for member in members {
            do {
                _ = try await supervisor.launch(member.id)
            } catch {
                Self.say("error: \(error.description)")
                await shutdown()
                throw ExitCode.failure
            }
        }

        Self.say("Starting a \(zones)-zone Almanac cluster of \(nodes) nodes (data: \(root)) ...")
        let deadline = Date().addingTimeInterval(60)
        var pending = Set(members.map(\.id))
        while !pending.isEmpty && Date() < deadline {
            for id in pending.sorted() {
                do {
                    if try await supervisor.isReady(id) { pending.remove(id) }
                } catch {
                    Self.say("error: \(error.description)")
                    await shutdown()
                    throw ExitCode.failure
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard pending.isEmpty else {
            Self.say("error: nodes \(pending.sorted()) did not become ready within 60 s; see their logs in \(root)")
            await shutdown()
            throw ExitCode.failure
        }
        let endpoints = members.map(\.apiAddress).joined(separator: ",")
        Self.say("")
        for member in members {
            Self.say("  node \(member.id)  \(member.zone)  client API \(member.apiAddress)  peers \(member.peerAddress)  log \(root)/node\(member.id).log")
        }
        for member in members {
            let base = "http://\(metricsAddress(member))"
            Self.say("  node \(member.id)  metrics \(base)/metrics  health \(base)/healthz  ready \(base)/readyz  console \(base)/console")
        }
        Self.say("""

            Cluster is up (\(shards) shards, one replica per zone, \(certificates == nil ? "plaintext (--insecure)" : "TLS")). Try, in another terminal:

              export ALMANAC_ENDPOINTS=\(endpoints)\(certificates.map { "\n  export ALMANAC_CA=\($0.certificateAuthority)" } ?? "")\(devToken.map { "\n  export ALMANAC_TOKEN=\($0)\n  export ALMANAC_TOKEN_KEY=\(tokenKey)" } ?? "")
              almanac ctl mkdir /docs
              almanac ctl touch /docs/hello.txt
              almanac ctl ls /docs
              almanac ctl status\(devToken == nil ? "" : "\n  almanac ctl token issue --write /docs --ttl 1h     (a token for /docs only)")

            (or `swift run almanac ctl ...` from the repository). Failure drills, from this directory:

              almanac ctl node kill 2 --data-dir \(root)     (SIGKILL; also: stop = SIGTERM)
              almanac ctl node start 2 --data-dir \(root)
              almanac ctl node status --data-dir \(root)

            A node that dies is reported here; the others keep running. Press Ctrl-C to stop the cluster.
            """)

        if let measureCreates {
            let failed: Bool
            do {
                var configuration = AlmanacClientConfiguration(endpoints: members.map(\.apiAddress))
                configuration.tls = try certificates.map { try AlmanacClientConfiguration.tlsContext(trusting: $0.certificateAuthority) }
                configuration.authToken = devToken
                try await Self.measureCreateLatency(configuration: configuration, count: measureCreates)
                failed = false
            } catch {
                Self.say("error: measurement failed: \(error)")
                failed = true
            }
            Self.say("Stopping the cluster ...")
            await shutdown()
            if failed { throw ExitCode.failure }
            return
        }
        while signals.received == nil {
            _ = await supervisor.reportUnexpectedExits()
            try? await Task.sleep(for: .milliseconds(200))
        }
        Self.say("Stopping the cluster ...")
        await shutdown()
        Self.say("Stopped. Data kept in \(root).")
    }

    /// The dev CA and node certificates in DATA/tls: made on the first start, reused afterwards (so an
    /// exported ALMANAC_CA stays valid across restarts).
    static func devCertificates(root: String, nodes: [UInt64]) throws(SecurityError) -> DevCertificates.Layout {
        let layout = DevCertificates.Layout(directory: "\(root)/tls")
        let present = ([layout.certificateAuthority] + nodes.flatMap { [layout.node($0).certificate, layout.node($0).privateKey] })
            .allSatisfy { FileManager.default.fileExists(atPath: $0) }
        if present { return layout }
        return try DevCertificates.generate(into: layout.directory, clusterName: "almanac-dev", nodes: nodes)
    }

    /// The operations endpoint of a node: 127.0.0.1:<base-port + 20 + id>.
    func metricsAddress(_ member: ClusterMember) -> String { "127.0.0.1:\(basePort + 20 + Int(member.id))" }

    /// Writes a line to stdout unbuffered (the output may be a pipe).
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// This executable (so `dev` starts the same build's `serve`).
    static func executablePath() -> String {
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return resolved }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    /// Times `count` sequential creates (one client, one session, majority durability) after a
    /// warm-up, and prints the percentiles in microseconds.
    static func measureCreateLatency(configuration: AlmanacClientConfiguration, count: Int) async throws {
        let client = AlmanacClient(configuration: configuration)
        defer { Task { await client.shutdown() } }
        let clock = ContinuousClock()
        var directory: UInt64 = 0
        for attempt in 0..<100 {
            do {
                directory = try await client.mkdir(parent: rootInode, name: "latency-\(Int(Date().timeIntervalSince1970 * 1000))").inode
                break
            } catch {
                if attempt == 99 { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        for i in 0..<min(200, count) { _ = try await client.create(parent: directory, name: "warm-\(i)") }
        var samples: [Duration] = []
        samples.reserveCapacity(count)
        let start = clock.now
        for i in 0..<count {
            let begin = clock.now
            _ = try await client.create(parent: directory, name: "f-\(i)")
            samples.append(clock.now - begin)
        }
        let total = clock.now - start
        samples.sort()
        func micros(_ d: Duration) -> Double { Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12 }
        func at(_ p: Double) -> String { String(format: "%.0f", micros(samples[min(samples.count - 1, Int(Double(samples.count) * p))])) }
        let mean = micros(total) / Double(count)
        say("create latency over \(count) sequential creates (one client, majority durability, 3 nodes on loopback):")
        say("  p50 \(at(0.50)) us   p90 \(at(0.90)) us   p99 \(at(0.99)) us   max \(at(1.0)) us   mean \(String(format: "%.0f", mean)) us   "
            + "(\(String(format: "%.0f", Double(count) / (micros(total) / 1e6))) creates/s)")
    }
}
