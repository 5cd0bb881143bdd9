import AlmanacClient
import AlmanacWire
import ArgumentParser
import Foundation
import NIOCore

/// `almanac ctl`: file operations and cluster status over the client protocol.
///
/// Exit codes: 0 ok, 1 operation error (message printed), 2 usage, 3 cluster unavailable.
struct CtlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Operate on a running cluster: file operations and status.",
        discussion: """
            Endpoints come from --endpoints or the ALMANAC_ENDPOINTS environment variable; TLS from --ca or
            ALMANAC_CA, the access token from --token or ALMANAC_TOKEN (docs/security.md).
            Exit codes: 0 ok, 1 operation error, 2 usage, 3 cluster unavailable.
            """,
        subcommands: [
            CtlMkdir.self, CtlTouch.self, CtlLs.self, CtlStat.self, CtlMv.self, CtlRm.self, CtlRmdir.self,
            CtlTree.self, CtlStatus.self, CtlShards.self, CtlLocate.self, CtlNode.self, CtlReshard.self, CtlMigrate.self, CtlController.self, CtlAudit.self, CtlPredict.self, CtlPlan.self, CtlCheck.self, CtlToken.self,
        ]
    )
}

/// Options shared by every `ctl` subcommand.
struct CtlOptions: ParsableArguments {
    @Option(help: "Comma-separated client endpoints, host:port (default: $ALMANAC_ENDPOINTS).")
    var endpoints: String?

    @Flag(help: "Print machine-readable JSON.")
    var json = false

    @Option(help: "Seconds before an operation gives up (retries and redirects included).")
    var timeout: Double = 10

    @OptionGroup var security: ClientSecurityOptions

    /// A client configuration for `endpoints` with this invocation's TLS settings.
    func clientConfiguration(endpoints: [String], attemptTimeout: TimeAmount, operationTimeout: TimeAmount,
                             connectTimeout: TimeAmount = .seconds(2), clientName: String) throws -> AlmanacClientConfiguration {
        var configuration = AlmanacClientConfiguration(
            endpoints: endpoints, attemptTimeout: attemptTimeout, operationTimeout: operationTimeout,
            connectTimeout: connectTimeout, clientName: clientName)
        try security.apply(to: &configuration)
        return configuration
    }

    func endpointList() throws -> [String] {
        let raw = endpoints ?? ProcessInfo.processInfo.environment["ALMANAC_ENDPOINTS"] ?? ""
        let list = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !list.isEmpty else { throw ValidationError("no endpoints: pass --endpoints host:port,... or set ALMANAC_ENDPOINTS") }
        for endpoint in list where !CtlRunner.isEndpoint(endpoint) {
            throw ValidationError("bad endpoint \"\(endpoint)\": expected host:port")
        }
        return list
    }

    func validate() throws {
        _ = try endpointList()
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be in (0, 3600] seconds") }
        if let endpoints, endpoints.isEmpty { throw ValidationError("--endpoints is empty") }
    }
}

/// Runs one ctl operation: builds the client, maps errors to messages and exit codes.
enum CtlRunner {
    static func isEndpoint(_ endpoint: String) -> Bool {
        guard let colon = endpoint.lastIndex(of: ":"), colon != endpoint.startIndex,
            let port = Int(endpoint[endpoint.index(after: colon)...])
        else { return false }
        return (1...65535).contains(port)
    }

    static func run(
        _ options: CtlOptions, command: String, _ body: (AlmanacClient, CtlOutput) async throws(CtlFailure) -> Void
    ) async throws {
        let endpoints = try options.endpointList()
        let timeout = Int64(options.timeout * 1000)
        let client = AlmanacClient(configuration: try options.clientConfiguration(
            endpoints: endpoints, attemptTimeout: .milliseconds(min(timeout, 5000)), operationTimeout: .milliseconds(timeout),
            connectTimeout: .milliseconds(min(timeout, 2000)), clientName: "almanac-ctl"))
        let output = CtlOutput(json: options.json)
        var exitCode: Int32 = 0
        do {
            try await body(client, output)
        } catch {
            let message: String
            if let path = error.path {
                message = "\(command): \(path): \(error.error.posixDescription ?? error.error.message) (\(error.error.codeName))"
            } else {
                message = "\(command): \(error.error.message) (\(error.error.codeName))"
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            exitCode = error.error.kind == .invalidArgument ? 2 : error.error.isClusterUnavailable ? 3 : 1
        }
        await client.shutdown()
        if exitCode != 0 { throw ExitCode(exitCode) }
    }
}

/// A failed ctl step: the client error and the path it concerned.
struct CtlFailure: Error {
    var error: AlmanacClientError
    var path: String?
}

extension AlmanacClientError {
    func at(_ path: String?) -> CtlFailure { CtlFailure(error: self, path: path) }
}

/// Runs `body` and tags its error with `path`.
func onPath<T>(_ path: String?, _ body: () async throws(AlmanacClientError) -> T) async throws(CtlFailure) -> T {
    do {
        return try await body()
    } catch {
        throw error.at(path)
    }
}

/// Human or JSON output.
struct CtlOutput {
    var json: Bool

    func line(_ text: String) { print(text) }

    func emit<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        if let data = try? encoder.encode(value), let text = String(data: data, encoding: .utf8) { print(text) }
    }
}

/// JSON form of an inode's attributes.
struct AttributesJSON: Encodable {
    var inode: UInt64, type: String, mode: String, uid: UInt32, gid: UInt32, size: UInt64, nlink: UInt32
    var atimeNs: Int64, mtimeNs: Int64, ctimeNs: Int64, version: UInt64
    var path: String?
    var name: String?

    init(_ a: FileAttributes, path: String? = nil, name: String? = nil) {
        inode = a.inode; type = typeName(a.type); mode = String(format: "%04o", a.mode); uid = a.uid; gid = a.gid
        size = a.size; nlink = a.nlink; atimeNs = a.atimeNs; mtimeNs = a.mtimeNs; ctimeNs = a.ctimeNs; version = a.version
        self.path = path
        self.name = name
    }
}

func typeName(_ type: FileKind) -> String {
    switch type {
    case .directory: "directory"
    case .regular: "file"
    case .symlink: "symlink"
    default: "unknown"
    }
}

/// `drwxr-xr-x`-style mode string.
func modeString(_ a: FileAttributes) -> String {
    let kind: Character = a.type == .directory ? "d" : a.type == .symlink ? "l" : "-"
    var chars: [Character] = [kind]
    let bits: [(UInt32, Character)] = [(0o400, "r"), (0o200, "w"), (0o100, "x"), (0o40, "r"), (0o20, "w"), (0o10, "x"), (0o4, "r"), (0o2, "w"), (0o1, "x")]
    for (bit, char) in bits { chars.append(a.mode & bit != 0 ? char : "-") }
    return String(chars)
}

func formatTime(_ nanoseconds: Int64) -> String {
    let date = Date(timeIntervalSince1970: Double(nanoseconds) / 1e9)
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}

func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

// MARK: - Subcommands

struct CtlMkdir: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mkdir", abstract: "Create directories.")
    @OptionGroup var options: CtlOptions
    @Flag(name: .shortAndLong, help: "Create missing parents; no error if the directory exists.") var parents = false
    @Option(help: "Permission bits, octal.") var mode: String = "755"
    @Argument(help: "Absolute paths.") var paths: [String]

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("mkdir: missing path") }
        guard UInt32(mode, radix: 8) != nil else { throw ValidationError("bad --mode \(mode): expected octal permission bits") }
    }

    func run() async throws {
        let mode = UInt32(self.mode, radix: 8) ?? 0o755
        let parents = self.parents
        try await CtlRunner.run(options, command: "mkdir") { client, output throws(CtlFailure) in
            var made: [AttributesJSON] = []
            for path in paths {
                let attributes: FileAttributes
                if parents {
                    attributes = try await onPath(path) { () async throws(AlmanacClientError) in
                        var current = try await client.getattr(rootInode)
                        for name in try AlmanacClient.components(of: path) {
                            do throws(AlmanacClientError) {
                                current = try await client.mkdir(parent: current.inode, name: name, mode: mode)
                            } catch where error.code == Almanac_Api_V1_ErrorCode.eexist {
                                current = try await client.lookup(parent: current.inode, name: name)
                                if current.type != .directory { throw AlmanacClientError(.operation, code: .enotdir, "\(name) is not a directory") }
                            }
                        }
                        return current
                    }
                } else {
                    attributes = try await onPath(path) { () async throws(AlmanacClientError) in try await client.mkdir(path: path, mode: mode) }
                }
                made.append(AttributesJSON(attributes, path: path))
            }
            if output.json { output.emit(made) }
        }
    }
}

struct CtlTouch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "touch", abstract: "Create empty files (existing files are left as they are).", aliases: ["create"])
    @OptionGroup var options: CtlOptions
    @Option(help: "Permission bits, octal.") var mode: String = "644"
    @Argument(help: "Absolute paths.") var paths: [String]

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("touch: missing path") }
        guard UInt32(mode, radix: 8) != nil else { throw ValidationError("bad --mode \(mode): expected octal permission bits") }
    }

    func run() async throws {
        let mode = UInt32(self.mode, radix: 8) ?? 0o644
        try await CtlRunner.run(options, command: "touch") { client, output throws(CtlFailure) in
            var made: [AttributesJSON] = []
            for path in paths {
                let attributes = try await onPath(path) { () async throws(AlmanacClientError) in
                    try await client.create(path: path, mode: mode, openExisting: true)
                }
                made.append(AttributesJSON(attributes, path: path))
            }
            if output.json { output.emit(made) }
        }
    }
}

struct CtlLs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a directory.")
    @OptionGroup var options: CtlOptions
    @Flag(name: .short, help: "Long format.") var long = false
    @Argument(help: "Absolute path (default /).") var path: String = "/"

    func run() async throws {
        let long = self.long
        let path = self.path
        try await CtlRunner.run(options, command: "ls") { client, output throws(CtlFailure) in
            let target = try await onPath(path) { () async throws(AlmanacClientError) in try await client.resolve(path) }
            var rows: [(String, FileAttributes)] = []
            if target.type == .directory {
                let entries = try await onPath(path) { () async throws(AlmanacClientError) in
                    do {
                        return try await client.readdir(target.inode, withAttributes: true).collect()
                    } catch let error as AlmanacClientError {
                        throw error
                    } catch {
                        throw AlmanacClientError(.protocolViolation, "\(error)")
                    }
                }
                rows = entries.map { ($0.name, $0.attributes) }
            } else {
                rows = [(AlmanacClient.lastComponent(path), target)]
            }
            if output.json {
                output.emit(rows.map { AttributesJSON($0.1, name: $0.0) })
            } else if long {
                for (name, a) in rows {
                    output.line("\(modeString(a)) \(a.nlink) \(a.uid) \(a.gid) \(a.size) \(formatTime(a.mtimeNs)) \(name)\(a.type == .directory ? "/" : "")")
                }
            } else {
                for (name, a) in rows { output.line(name + (a.type == .directory ? "/" : "")) }
            }
        }
    }
}

struct CtlStat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stat", abstract: "Show an inode's attributes.")
    @OptionGroup var options: CtlOptions
    @Argument(help: "Absolute paths.") var paths: [String]

    func validate() throws { guard !paths.isEmpty else { throw ValidationError("stat: missing path") } }

    func run() async throws {
        try await CtlRunner.run(options, command: "stat") { client, output throws(CtlFailure) in
            var all: [AttributesJSON] = []
            for path in paths {
                let a = try await onPath(path) { () async throws(AlmanacClientError) in try await client.resolve(path) }
                all.append(AttributesJSON(a, path: path))
                if !output.json {
                    var target = ""
                    if a.type == .symlink, let link = try? await client.readlink(a.inode) { target = " -> \(link)" }
                    output.line("""
                          path: \(path)\(target)
                         inode: \(a.inode) (segment \(segment(ofInode: a.inode)), shard \((try? await client.shard(ofInode: a.inode)).map { String($0) } ?? "?"))
                          type: \(typeName(a.type))
                          mode: \(String(format: "%04o", a.mode)) (\(modeString(a)))
                         owner: \(a.uid):\(a.gid)
                          size: \(a.size)
                         links: \(a.nlink)
                         atime: \(formatTime(a.atimeNs))
                         mtime: \(formatTime(a.mtimeNs))
                         ctime: \(formatTime(a.ctimeNs))
                       version: \(a.version)
                    """)
                }
            }
            if output.json { output.emit(all) }
        }
    }
}

struct CtlMv: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mv", abstract: "Rename or move (across shards too: a cross-shard transaction).")
    @OptionGroup var options: CtlOptions
    @Argument(help: "Source path.") var source: String
    @Argument(help: "Destination path (an existing directory: move into it).") var destination: String

    func run() async throws {
        try await CtlRunner.run(options, command: "mv") { client, output throws(CtlFailure) in
            try await onPath(source) { () async throws(AlmanacClientError) in try await client.rename(from: source, to: destination) }
            if output.json { output.emit(["source": source, "destination": destination]) }
        }
    }
}

struct CtlRm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove files (with -r, directories and their contents).")
    @OptionGroup var options: CtlOptions
    @Flag(name: .shortAndLong, help: "Remove directories and their contents recursively.") var recursive = false
    @Argument(help: "Absolute paths.") var paths: [String]

    func validate() throws { guard !paths.isEmpty else { throw ValidationError("rm: missing path") } }

    func run() async throws {
        let recursive = self.recursive
        try await CtlRunner.run(options, command: "rm") { client, output throws(CtlFailure) in
            for path in paths {
                let (parent, name) = try await onPath(path) { () async throws(AlmanacClientError) in try await client.resolveParent(path) }
                let target = try await onPath(path) { () async throws(AlmanacClientError) in try await client.lookup(parent: parent.inode, name: name) }
                if target.type == .directory {
                    guard recursive else { throw AlmanacClientError(.operation, code: .eisdir, "is a directory").at(path) }
                    try await removeTree(client, directory: target.inode, path: path)
                    try await onPath(path) { () async throws(AlmanacClientError) in try await client.rmdir(parent: parent.inode, name: name) }
                } else {
                    try await onPath(path) { () async throws(AlmanacClientError) in try await client.unlink(parent: parent.inode, name: name) }
                }
            }
            if output.json { output.emit(["removed": paths]) }
        }
    }

    private func removeTree(_ client: AlmanacClient, directory: UInt64, path: String) async throws(CtlFailure) {
        while true {
            let page = try await onPath(path) { () async throws(AlmanacClientError) in try await client.readdirPage(directory, limit: 256) }
            if page.entries.isEmpty { return }
            for entry in page.entries {
                let child = joinPath(path, entry.name)
                if entry.type == .directory {
                    try await removeTree(client, directory: entry.inode, path: child)
                    try await onPath(child) { () async throws(AlmanacClientError) in try await client.rmdir(parent: directory, name: entry.name) }
                } else {
                    try await onPath(child) { () async throws(AlmanacClientError) in try await client.unlink(parent: directory, name: entry.name) }
                }
            }
        }
    }
}

struct CtlRmdir: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rmdir", abstract: "Remove empty directories.")
    @OptionGroup var options: CtlOptions
    @Argument(help: "Absolute paths.") var paths: [String]

    func validate() throws { guard !paths.isEmpty else { throw ValidationError("rmdir: missing path") } }

    func run() async throws {
        try await CtlRunner.run(options, command: "rmdir") { client, output throws(CtlFailure) in
            for path in paths {
                try await onPath(path) { () async throws(AlmanacClientError) in try await client.rmdir(path: path) }
            }
            if output.json { output.emit(["removed": paths]) }
        }
    }
}

struct CtlTree: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tree", abstract: "Show a directory tree.")
    @OptionGroup var options: CtlOptions
    @Option(help: "Maximum depth.") var depth: Int = 64
    @Argument(help: "Absolute path (default /).") var path: String = "/"

    struct Node: Encodable {
        var name: String
        var inode: UInt64
        var type: String
        var children: [Node]?
    }

    func run() async throws {
        let path = self.path
        let maxDepth = max(0, depth)
        try await CtlRunner.run(options, command: "tree") { client, output throws(CtlFailure) in
            let root = try await onPath(path) { () async throws(AlmanacClientError) in try await client.resolve(path) }
            let tree = try await build(client, name: path, inode: root.inode, type: root.type, path: path, depth: maxDepth)
            if output.json {
                output.emit(tree)
            } else {
                output.line(path)
                var counts = (directories: 0, files: 0)
                render(tree.children ?? [], prefix: "", output: output, counts: &counts)
                output.line("\n\(counts.directories) directories, \(counts.files) files")
            }
        }
    }

    private func build(_ client: AlmanacClient, name: String, inode: UInt64, type: FileKind, path: String, depth: Int) async throws(CtlFailure) -> Node {
        var node = Node(name: name, inode: inode, type: typeName(type), children: nil)
        guard type == .directory, depth > 0 else { return node }
        var children: [Node] = []
        var cursor: Data?
        repeat {
            let page = try await onPath(path) { () async throws(AlmanacClientError) in try await client.readdirPage(inode, cursor: cursor) }
            for entry in page.entries {
                children.append(try await build(
                    client, name: entry.name, inode: entry.inode, type: entry.type, path: joinPath(path, entry.name), depth: depth - 1))
            }
            cursor = page.nextCursor
        } while cursor != nil
        node.children = children
        return node
    }

    private func render(_ nodes: [Node], prefix: String, output: CtlOutput, counts: inout (directories: Int, files: Int)) {
        for (index, node) in nodes.enumerated() {
            let last = index == nodes.count - 1
            output.line(prefix + (last ? "└── " : "├── ") + node.name + (node.type == "directory" ? "/" : ""))
            if node.type == "directory" { counts.directories += 1 } else { counts.files += 1 }
            if let children = node.children { render(children, prefix: prefix + (last ? "    " : "│   "), output: output, counts: &counts) }
        }
    }
}

struct CtlStatus: AsyncParsableCommand {
    /// " (healthy: ...)" / " (UNHEALTHY: ...)" after the backend's name, when the node probed its store.
    static func storeHealth(_ map: Almanac_Api_V1_ShardMap) -> String {
        guard !map.backendDetail.isEmpty else { return "" }
        return map.backendHealthy ? " (healthy: \(map.backendDetail))" : " (UNHEALTHY: \(map.backendDetail))"
    }

    static let configuration = CommandConfiguration(commandName: "status", abstract: "Nodes, zones, health, shards, leaders, commit indexes.")
    @OptionGroup var options: CtlOptions

    func run() async throws {
        try await CtlRunner.run(options, command: "status") { client, output throws(CtlFailure) in
            let status = try await onPath(nil) { () async throws(AlmanacClientError) in try await client.status() }
            if output.json {
                output.line((try? status.jsonString()) ?? "{}")
                return
            }
            output.line("responder: node \(status.responderNodeID)")
            if let map = try? await client.shardMapMessage() {
                output.line("shard map: backend \(map.backend)\(Self.storeHealth(map)), epoch \(map.epoch), \(map.shards.count) shards over \(map.segmentCount) segments")
            }
            output.line("NODES")
            for node in status.nodes {
                output.line("  node \(node.nodeID)  zone \(node.zone)  \(String(describing: node.health))  client \(node.clientAddress)  peer \(node.peerAddress)  last heard \(node.lastHeardMs) ms ago")
            }
            output.line("ZONES")
            for zone in status.zones {
                output.line("  \(zone.zone)  \(String(describing: zone.health))  nodes \(zone.nodeIds.map(String.init).joined(separator: ","))")
            }
            if status.hasSystemGroup {
                let system = status.systemGroup
                let leader = system.leaderNodeID == 0 ? "none" : "node \(system.leaderNodeID)"
                output.line("SYSTEM GROUP (embedded shard map store)  leader \(leader)  term \(system.term)  commit \(system.commitIndex)  applied \(system.appliedIndex)")
            }
            output.line("SHARDS")
            for shard in status.shards {
                let leader = shard.leaderNodeID == 0 ? "none" : "node \(shard.leaderNodeID)"
                output.line("  shard \(shard.shardID)  leader \(leader)  term \(shard.term)  commit \(shard.commitIndex)  applied \(shard.appliedIndex)")
                for replica in shard.replicas {
                    output.line("    node \(replica.nodeID)  zone \(replica.zone)  \(String(describing: replica.role))  match \(replica.matchIndex)")
                }
            }
            for line in await PrefetchStatusReport.collect(nodes: status.nodes).lines { output.line(line) }
        }
    }
}
