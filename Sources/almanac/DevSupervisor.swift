import AlmanacKeyspace
import AlmanacNode
import Foundation
import NIOCore
import NIOPosix

/// The node processes of `almanac dev`: starts, stops, kills and restarts them, and notices when
/// one dies on its own (the others keep running). Driven by `DevCommand` and, through the control
/// socket (`DevControlServer`), by `almanac ctl node ...`.
actor DevSupervisor {
    struct Node {
        let member: ClusterMember
        let configPath: String
        let logPath: String
        var process: Process?
        /// Set while a stop/kill asked by the user is in progress: that exit is not a failure.
        var exitExpected = false
        /// The process's exit was already reported.
        var exitReported = false
    }

    private var nodes: [UInt64: Node]
    private let executable: String
    private let logLevel: String
    /// Further `serve` arguments per node (log format, metrics address).
    private let extraArguments: [UInt64: [String]]
    private let root: String
    private let say: @Sendable (String) -> Void

    init(members: [ClusterMember], root: String, executable: String, logLevel: String, extraArguments: [UInt64: [String]] = [:],
         say: @escaping @Sendable (String) -> Void) {
        var nodes: [UInt64: Node] = [:]
        for member in members {
            nodes[member.id] = Node(member: member, configPath: "\(root)/node\(member.id).json", logPath: "\(root)/node\(member.id).log")
        }
        self.nodes = nodes
        self.executable = executable
        self.logLevel = logLevel
        self.extraArguments = extraArguments
        self.root = root
        self.say = say
    }

    var ids: [UInt64] { nodes.keys.sorted() }

    func logPath(_ id: UInt64) -> String? { nodes[id]?.logPath }

    /// Launches node `id` (its log is appended to) without waiting for it to serve.
    func launch(_ id: UInt64) throws(DevControlError) -> Int32 {
        guard var node = nodes[id] else { throw DevControlError("there is no node \(id) (nodes: \(ids.map(String.init).joined(separator: ", ")))") }
        if let process = node.process, process.isRunning {
            throw DevControlError("node \(id) is already running (pid \(process.processIdentifier))")
        }
        if !FileManager.default.fileExists(atPath: node.logPath) { _ = FileManager.default.createFile(atPath: node.logPath, contents: nil) }
        guard let logHandle = FileHandle(forWritingAtPath: node.logPath) else { throw DevControlError("cannot write \(node.logPath)") }
        logHandle.seekToEndOfFile()
        logHandle.write(Data("=== almanac dev: launching node \(id) at \(Date()) ===\n".utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--config", node.configPath, "--log-level", logLevel] + (extraArguments[id] ?? [])
        process.standardOutput = logHandle
        process.standardError = logHandle
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw DevControlError("cannot start node \(id): \(error)")
        }
        try? logHandle.close()  // the child has its own copy
        node.process = process
        node.exitExpected = false
        node.exitReported = false
        nodes[id] = node
        return process.processIdentifier
    }

    /// Whether node `id`'s latest launch printed its ready line; throws if it exited meanwhile.
    func isReady(_ id: UInt64) throws(DevControlError) -> Bool {
        guard let node = nodes[id], let process = node.process else { throw DevControlError("node \(id) is not running") }
        let text = (try? String(contentsOfFile: node.logPath, encoding: .utf8)) ?? ""
        let latest = text.range(of: "=== almanac dev: launching node", options: .backwards).map { text[$0.lowerBound...] } ?? text[...]
        if latest.contains("almanac node \(id) "), latest.contains("ready:") { return true }
        if !process.isRunning {
            nodes[id]?.exitReported = true
            throw DevControlError("node \(id) exited during start-up (\(Self.describeExit(process))); see \(node.logPath)")
        }
        return false
    }

    /// Launches node `id` and waits until it serves (at most `timeout`).
    func start(_ id: UInt64, timeout: Duration = .seconds(60)) async throws(DevControlError) -> Int32 {
        let pid = try launch(id)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try isReady(id) { return pid }
            try? await Task.sleep(for: .milliseconds(50))
        }
        throw DevControlError("node \(id) did not become ready within \(timeout); see \(nodes[id]?.logPath ?? "its log")")
    }

    /// SIGTERM (`kill == false`, SIGKILL after `grace`) or SIGKILL to node `id`; waits for the exit.
    func stop(_ id: UInt64, kill hard: Bool, grace: Duration = .seconds(10)) async throws(DevControlError) -> String {
        guard let node = nodes[id] else { throw DevControlError("there is no node \(id)") }
        guard let process = node.process, process.isRunning else { throw DevControlError("node \(id) is not running") }
        nodes[id]?.exitExpected = true
        kill(process.processIdentifier, hard ? SIGKILL : SIGTERM)
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        }
        nodes[id]?.exitReported = true
        return Self.describeExit(process)
    }

    /// Reports, once each, the nodes that exited without being asked to; returns their ids.
    func reportUnexpectedExits() -> [UInt64] {
        var died: [UInt64] = []
        for id in ids {
            guard let node = nodes[id], let process = node.process, !process.isRunning, !node.exitReported else { continue }
            nodes[id]?.exitReported = true
            if node.exitExpected { continue }
            died.append(id)
            say("node \(id) (\(node.member.zone)) died: \(Self.describeExit(process)); the other nodes keep running. "
                + "Log: \(node.logPath). Restart it with: almanac ctl node start \(id) --data-dir \(root)")
        }
        return died
    }

    /// One line per node: id, zone, state, pid, endpoints.
    func statusLines() -> [String] {
        ids.compactMap { id in
            guard let node = nodes[id] else { return nil }
            let state: String
            if let process = node.process {
                state = process.isRunning ? "running (pid \(process.processIdentifier))"
                    : (node.exitExpected ? "stopped" : "died") + " (\(Self.describeExit(process)))"
            } else {
                state = "not started"
            }
            return "node \(id)  \(node.member.zone)  \(state)  client API \(node.member.apiAddress)"
        }
    }

    /// SIGTERM to every running node, SIGKILL to those still running after `grace`.
    func stopAll(grace: Duration = .seconds(10)) async {
        let running = nodes.values.compactMap(\.process).filter(\.isRunning)
        for id in ids { nodes[id]?.exitExpected = true }
        for process in running { process.terminate() }
        let deadline = ContinuousClock.now + grace
        while running.contains(where: \.isRunning) && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        for process in running where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        while running.contains(where: \.isRunning) { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Executes one control-socket command line and returns the reply ("ok ..." or "error ...").
    func handle(_ line: String) async -> String {
        let words = line.split(separator: " ").map(String.init)
        guard let verb = words.first else { return "error empty command" }
        if verb == "status", words.count == 1 { return "ok\n" + statusLines().joined(separator: "\n") }
        guard words.count == 2, let id = UInt64(words[1]) else {
            return "error expected: start N | stop N | kill N | status"
        }
        do throws(DevControlError) {
            switch verb {
            case "start":
                say("ctl: starting node \(id) ...")
                let pid = try await start(id)
                say("node \(id) is running again (pid \(pid))")
                return "ok node \(id) started (pid \(pid)) and serving"
            case "stop", "kill":
                say("ctl: \(verb == "kill" ? "killing (SIGKILL)" : "stopping") node \(id) ...")
                let how = try await stop(id, kill: verb == "kill")
                say("node \(id) \(verb == "kill" ? "killed" : "stopped") (\(how)); the other nodes keep running")
                return "ok node \(id) \(verb == "kill" ? "killed" : "stopped") (\(how))"
            default:
                return "error unknown command \"\(verb)\" (start N | stop N | kill N | status)"
            }
        } catch {
            return "error \(error.description)"
        }
    }

    static func describeExit(_ process: Process) -> String {
        if process.isRunning { return "running" }
        return process.terminationReason == .uncaughtSignal
            ? "killed by signal \(process.terminationStatus)" : "exit status \(process.terminationStatus)"
    }
}

struct DevControlError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The control socket of `almanac dev`: a Unix domain socket `dev.sock` in the data directory
/// (only the user can reach it, and it names the cluster by its directory). One command line per
/// connection (`start N`, `stop N`, `kill N`, `status`), one reply, then the server closes.
enum DevControlServer {
    static let socketName = "dev.sock"
    /// sockaddr_un's path limit (108 bytes including the NUL).
    static let maxPathBytes = 107

    static func socketPath(root: String) -> String { "\(root)/\(socketName)" }

    /// Binds the socket (replacing a stale one; refusing if another `dev` answers on it).
    static func start(root: String, supervisor: DevSupervisor) async throws(DevControlError) -> any Channel {
        let path = socketPath(root: root)
        guard path.utf8.count <= maxPathBytes else {
            throw DevControlError("control socket path \(path) is longer than \(maxPathBytes) bytes; use a shorter --data-dir")
        }
        if FileManager.default.fileExists(atPath: path) {
            if (try? DevControlClient.send("status", root: root, timeoutSeconds: 2)) != nil {
                throw DevControlError("another almanac dev is running on \(root) (it answers on \(path))")
            }
            try? FileManager.default.removeItem(atPath: path)  // stale: left by a dev that was killed
        }
        do {
            return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ControlHandler(supervisor: supervisor))
                    }
                }
                .bind(unixDomainSocketPath: path)
                .get()
        } catch {
            throw DevControlError("cannot listen on \(path): \(error)")
        }
    }

    /// Collects one line, runs it on the supervisor (off the event loop), writes the reply and closes.
    final class ControlHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var pending = ""
        private var done = false
        private let supervisor: DevSupervisor

        init(supervisor: DevSupervisor) { self.supervisor = supervisor }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !done else { return }
            var buffer = unwrapInboundIn(data)
            pending += buffer.readString(length: buffer.readableBytes) ?? ""
            guard pending.count <= 1024 else {
                done = true
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "error command too long\n")), promise: nil)
                context.close(promise: nil)
                return
            }
            guard let newline = pending.firstIndex(of: "\n") else { return }
            done = true
            let line = pending[..<newline].trimmingCharacters(in: .whitespacesAndNewlines)
            let channel = context.channel
            let supervisor = self.supervisor
            Task {
                let reply = await supervisor.handle(line)
                try? await channel.writeAndFlush(ByteBuffer(string: reply + "\n"))
                try? await channel.close()
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}

/// The `ctl node` side of the control socket (blocking; a CLI command does nothing else meanwhile).
enum DevControlClient {
    /// Sends `command` to the `dev` running on `root` and returns its reply.
    static func send(_ command: String, root: String, timeoutSeconds: Int) throws(DevControlError) -> String {
        let path = DevControlServer.socketPath(root: root)
        guard FileManager.default.fileExists(atPath: path) else {
            throw DevControlError("no almanac dev is running on \(root) (no control socket \(path))")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DevControlError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count <= DevControlServer.maxPathBytes else { throw DevControlError("control socket path \(path) is too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw DevControlError("no almanac dev answers on \(path) (connect: errno \(errno)); is it still running?")
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let line = Array((command + "\n").utf8)
        let written = line.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard written == line.count else { throw DevControlError("cannot send to \(path): errno \(errno)") }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            if count < 0 { throw DevControlError("no reply from almanac dev within \(timeoutSeconds) s (errno \(errno))") }
            reply += buffer[0..<count]
        }
        return String(decoding: reply, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
