import AlmanacSimulation
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The faults a chaos run injects, one at a time, each healed before the next.
enum ChaosFaultKind: String, CaseIterable, Codable, Sendable {
    /// SIGKILL, down for the hold time, restarted.
    case kill
    /// SIGSTOP for the hold time, then SIGCONT.
    case pause
    /// The target's zone cannot reach the other zones, nor they it (clients still reach every zone).
    case partitionSymmetric = "partition-symmetric"
    /// The target's zone receives nothing from the other zones; what it sends still arrives.
    case partitionAsymmetric = "partition-asymmetric"
    /// The two other zones cannot reach each other; the target's zone still reaches both (a bridge).
    case partitionBridge = "partition-bridge"
    /// Every packet between zones is delayed 20-100 ms one way (the zones tool's NFQUEUE delayer).
    case delaySpike = "delay-spike"
    /// The target's data file system is frozen (`fsfreeze`): its writes and fsyncs block.
    case diskStall = "disk-stall"
}

/// One injected fault as it happened (times in microseconds since the run started).
struct ChaosFault: Codable, Sendable {
    var kind: ChaosFaultKind
    var target: UInt64
    /// The target led shard 0 when the fault was injected.
    var targetWasLeader: Bool
    var injectedAt: UInt64
    var healedAt: UInt64
    var detail: String
}

/// Injects and heals faults on a ``ChaosCluster`` with iptables, signals, fsfreeze and the zones delay tool.
struct ChaosNemesis {
    let cluster: ChaosCluster
    /// bench/chaos-net.sh (`delay MS`); nil: no delay spikes.
    let delayTool: String?
    /// Each node's data directory is its own file system (fsfreeze works).
    let diskStalls: Bool

    var kinds: [ChaosFaultKind] {
        ChaosFaultKind.allCases.filter { kind in
            switch kind {
            case .delaySpike: delayTool != nil
            case .diskStall: diskStalls
            default: true
            }
        }
    }

    private func iptables(_ namespace: String, _ arguments: [String]) throws {
        try runChaosCommand("/usr/sbin/ip", ["netns", "exec", namespace, "/usr/sbin/iptables", "-w"] + arguments, log: cluster.commandLog)
    }

    private func address(_ id: UInt64) -> String { String(cluster.node(id).address.split(separator: ":")[0]) }

    private func drop(in namespace: String, from peer: String, input: Bool, output: Bool) throws {
        if input { try iptables(namespace, ["-I", "INPUT", "-s", peer, "-j", "DROP"]) }
        if output { try iptables(namespace, ["-I", "OUTPUT", "-d", peer, "-j", "DROP"]) }
    }

    /// Injects `kind` on `target`; returns a description. The caller holds, then calls ``heal``.
    func inject(_ kind: ChaosFaultKind, target: UInt64, random: inout Xoshiro256StarStar) throws -> String {
        let others = cluster.nodes.map(\.id).filter { $0 != target }
        let namespace = cluster.node(target).namespace
        switch kind {
        case .kill:
            cluster.kill(target)
            return "SIGKILL node \(target)"
        case .pause:
            guard cluster.signal(target, SIGSTOP) else { throw ChaosError("node \(target) is not running") }
            return "SIGSTOP node \(target)"
        case .partitionSymmetric:
            for other in others { try drop(in: namespace, from: address(other), input: true, output: true) }
            return "zone of node \(target) cut off from \(others)"
        case .partitionAsymmetric:
            for other in others { try drop(in: namespace, from: address(other), input: true, output: false) }
            return "zone of node \(target) hears nothing from \(others)"
        case .partitionBridge:
            let (a, b) = (others[0], others[1])
            try drop(in: cluster.node(a).namespace, from: address(b), input: true, output: true)
            try drop(in: cluster.node(b).namespace, from: address(a), input: true, output: true)
            return "nodes \(a) and \(b) cut apart, node \(target) bridges"
        case .delaySpike:
            guard let delayTool else { throw ChaosError("no delay tool") }
            let milliseconds = 20 + random.next(below: 81)
            try runChaosCommand("/bin/bash", [delayTool, "delay", String(milliseconds)], log: cluster.commandLog)
            return "\(milliseconds) ms one-way delay between zones"
        case .diskStall:
            try runChaosCommand("/usr/sbin/fsfreeze", ["-f", cluster.node(target).mount], log: cluster.commandLog)
            return "fsfreeze \(cluster.node(target).mount)"
        }
    }

    /// Undoes `kind` on `target` (a killed node is restarted and waited for).
    func heal(_ kind: ChaosFaultKind, target: UInt64) async throws {
        switch kind {
        case .kill:
            try await cluster.start(target)
        case .pause:
            cluster.signal(target, SIGCONT)
        case .partitionSymmetric, .partitionAsymmetric, .partitionBridge:
            try healNetwork()
        case .delaySpike:
            if let delayTool { try runChaosCommand("/bin/bash", [delayTool, "delay", "0"], log: cluster.commandLog) }
        case .diskStall:
            try runChaosCommand("/usr/sbin/fsfreeze", ["-u", cluster.node(target).mount], log: cluster.commandLog)
        }
    }

    func healNetwork() throws {
        for node in cluster.nodes {
            try iptables(node.namespace, ["-F", "INPUT"])
            try iptables(node.namespace, ["-F", "OUTPUT"])
        }
    }

    /// Best effort: undo every kind of fault (used on the way out, also after an error).
    func healEverything() {
        try? healNetwork()
        if let delayTool { _ = try? runChaosCommand("/bin/bash", [delayTool, "delay", "0"], log: cluster.commandLog) }
        if diskStalls { for node in cluster.nodes { _ = try? runChaosCommand("/usr/sbin/fsfreeze", ["-u", node.mount], log: cluster.commandLog) } }
        for node in cluster.nodes { cluster.signal(node.id, SIGCONT) }
    }
}

extension Xoshiro256StarStar {
    /// A uniform integer in 0..<bound.
    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
