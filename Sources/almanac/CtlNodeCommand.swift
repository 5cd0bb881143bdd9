import ArgumentParser
import Foundation

/// `almanac ctl node stop|kill|start|status|drain`: failure drills on a cluster run by `almanac dev`
/// (stop, kill, start, status: through its control socket, `<data-dir>/dev.sock`; not for clusters
/// of `almanac serve` processes started otherwise, whose supervisor owns them), and draining a node
/// of any cluster (through the client API).
struct CtlNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Stop, kill or start a node of a local `almanac dev` cluster; drain, add or remove a node of any cluster.",
        discussion: """
            stop N: SIGTERM (SIGKILL after 10 s); kill N: SIGKILL (a crash); start N: restart it and wait until it
            serves; status: every node's state. The dev cluster is found by its --data-dir (default
            $ALMANAC_DEV_DATA_DIR, else ./almanac-dev-data). Exit codes: 0 ok, 1 refused (e.g. already running),
            2 usage, 3 no dev cluster answers. drain N: move every replica off node N (see `ctl node drain --help`). \
            add/remove: change the cluster's membership (see `ctl node add --help`, `ctl node remove --help`).
            """,
        subcommands: [CtlNodeStop.self, CtlNodeKill.self, CtlNodeStart.self, CtlNodeStatus.self, CtlNodeDrain.self, CtlNodeAdd.self, CtlNodeRemove.self]
    )
}

/// Where `ctl node stop|kill|start|status` find the dev cluster.
struct DevClusterOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The data directory `almanac dev` runs on.")
    var dataDir: String?

    /// Sends `command` to the dev supervisor and prints its answer.
    func send(_ command: String) throws {
        let directory = dataDir ?? ProcessInfo.processInfo.environment["ALMANAC_DEV_DATA_DIR"] ?? "./almanac-dev-data"
        let root = URL(fileURLWithPath: directory).standardizedFileURL.path
        let reply: String
        do {
            reply = try DevControlClient.send(command, root: root, timeoutSeconds: 90)
        } catch {
            FileHandle.standardError.write(Data("ctl node: \(error.description)\n".utf8))
            throw ExitCode(3)
        }
        if reply.hasPrefix("ok") {
            let text = reply.dropFirst(2).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { print(text) }
            return
        }
        let message = reply.hasPrefix("error ") ? String(reply.dropFirst(6)) : reply
        FileHandle.standardError.write(Data("ctl node \(command): \(message)\n".utf8))
        throw ExitCode(1)
    }
}

struct CtlNodeStop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "SIGTERM a dev node (SIGKILL after 10 s).")
    @Argument(help: "The node id.") var node: UInt64
    @OptionGroup var dev: DevClusterOptions
    func run() throws { try dev.send("stop \(node)") }
}

struct CtlNodeKill: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "SIGKILL a dev node (a crash).")
    @Argument(help: "The node id.") var node: UInt64
    @OptionGroup var dev: DevClusterOptions
    func run() throws { try dev.send("kill \(node)") }
}

struct CtlNodeStart: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Restart a dev node and wait until it serves.")
    @Argument(help: "The node id.") var node: UInt64
    @OptionGroup var dev: DevClusterOptions
    func run() throws { try dev.send("start \(node)") }
}

struct CtlNodeStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Every dev node's state: running (pid), stopped or died.")
    @OptionGroup var dev: DevClusterOptions
    func run() throws { try dev.send("status") }
}
