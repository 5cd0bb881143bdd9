import ArgumentParser
import Foundation

/// `almanac ctl node stop|kill|start|status N`: failure drills on a cluster run by `almanac dev`,
/// through its control socket (`<data-dir>/dev.sock`). Not for clusters of `almanac serve` processes
/// started otherwise (their supervisor, e.g. systemd, owns them).
struct CtlNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Stop, kill or start a node of a local `almanac dev` cluster.",
        discussion: """
            stop N: SIGTERM (SIGKILL after 10 s); kill N: SIGKILL (a crash); start N: restart it and wait until it
            serves; status: every node's state. The dev cluster is found by its --data-dir (default
            $ALMANAC_DEV_DATA_DIR, else ./almanac-dev-data). Exit codes: 0 ok, 1 refused (e.g. already running),
            2 usage, 3 no dev cluster answers.
            """
    )

    @Argument(help: "stop, kill, start or status.")
    var action: String

    @Argument(help: "The node id (1...3); not for status.")
    var node: UInt64?

    @Option(name: .customLong("data-dir"), help: "The data directory `almanac dev` runs on.")
    var dataDir: String?

    func validate() throws {
        switch action {
        case "stop", "kill", "start":
            guard node != nil else { throw ValidationError("\(action) needs a node id, e.g. `almanac ctl node \(action) 2`") }
        case "status":
            guard node == nil else { throw ValidationError("status takes no node id") }
        default:
            throw ValidationError("unknown action \"\(action)\": expected stop, kill, start or status")
        }
    }

    func run() async throws {
        let directory = dataDir ?? ProcessInfo.processInfo.environment["ALMANAC_DEV_DATA_DIR"] ?? "./almanac-dev-data"
        let root = URL(fileURLWithPath: directory).standardizedFileURL.path
        let command = node.map { "\(action) \($0)" } ?? action
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
