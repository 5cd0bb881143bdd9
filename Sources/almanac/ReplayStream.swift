import AlmanacClient
import AlmanacPredict
import AlmanacWire
import Foundation
import Histogram

/// One traced process replayed by its own client (its own sessions). Events run one at a time.
actor ReplayStream {
    let client: AlmanacClient
    let plan: ReplayPlan
    let inodes: ReplayInodes
    let stats: ReplayStats
    /// Open handles per file (a stack: the newest is closed first).
    private var open: [UInt32: [OpenFile]] = [:]
    private var renamed = 0

    init(client: AlmanacClient, plan: ReplayPlan, inodes: ReplayInodes, stats: ReplayStats) {
        self.client = client
        self.plan = plan
        self.inodes = inodes
        self.stats = stats
    }

    /// Runs one event: resolves what it needs (untimed, from the shared table or by lookup), then
    /// times the one request the event stands for.
    func run(_ event: OpEvent) async {
        let path = plan.paths[Int(event.file)]
        let op = event.op
        guard let name = path.last else { return await stats.skip(op, "the sandbox root itself") }
        guard let parent = await inodes.inode(of: Array(path.dropLast())) else {
            return await stats.skip(op, "parent directory absent (removed or never created by the trace)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed: UInt64 { (DispatchTime.now().uptimeNanoseconds - start) / 1000 }
        do {
            switch op {
            case .lookup, .getattr:
                let attributes = try await client.lookup(parent: parent, name: name)
                let micros = elapsed
                await inodes.set(path, attributes.inode)
                await stats.record(op, micros: micros, outcome: op == .lookup ? .unexpectedSuccess : .ok)
            case .open, .create:
                let flags: OpenOptions = op == .create ? [.write, .create] : [.read]
                let file = try await client.open(parent: parent, name: name, flags: flags)
                let micros = elapsed
                open[event.file, default: []].append(file)
                await inodes.set(path, file.attributes.inode)
                await stats.record(op, micros: micros, outcome: .ok)
            case .close:
                guard let file = open[event.file]?.popLast() else { return await stats.skip(op, "close without a replayed open") }
                try await client.close(file)
                await stats.record(op, micros: elapsed, outcome: .ok)
            case .mkdir:
                let attributes = try await client.mkdir(parent: parent, name: name)
                let micros = elapsed
                await inodes.set(path, attributes.inode)
                await stats.record(op, micros: micros, outcome: .ok)
            case .unlink, .rmdir:
                if op == .unlink { try await client.unlink(parent: parent, name: name) } else { try await client.rmdir(parent: parent, name: name) }
                let micros = elapsed
                await inodes.remove(path)
                await stats.record(op, micros: micros, outcome: .ok)
            case .rename:
                // The trace's event names only the source; the file moves to a sibling name.
                renamed += 1
                try await client.rename(parent: parent, name: name, newParent: parent, newName: "\(name)~replay\(renamed)")
                let micros = elapsed
                await inodes.remove(path)
                await stats.record(op, micros: micros, outcome: .ok)
            case .readdir, .readlink, .setattr:
                guard let inode = await inodes.inode(of: path) else { return await stats.skip(op, "inode unknown (never created or looked up)") }
                let timed = DispatchTime.now().uptimeNanoseconds
                switch op {
                case .readdir: _ = try await client.readdirPage(inode)
                case .readlink: _ = try await client.readlink(inode)
                default: _ = try await client.setattr(inode, AttributeChanges(mode: 0o644))
                }
                await stats.record(op, micros: (DispatchTime.now().uptimeNanoseconds - timed) / 1000, outcome: .ok)
            }
        } catch {
            let micros = elapsed
            if error.code == .enoent && op == .lookup {
                await stats.record(op, micros: micros, outcome: .reproducedENOENT)
            } else {
                await stats.record(op, micros: micros, outcome: .failed("\(op) \(path.joined(separator: "/")): \(error)"))
            }
        }
    }
}

/// Latencies and outcomes of a replay.
actor ReplayStats {
    enum Outcome {
        case ok
        case reproducedENOENT
        /// A lookup the trace saw fail succeeded here.
        case unexpectedSuccess
        case failed(String)
    }

    private(set) var completed = 0
    var byOp: [MetadataOp: Histogram<UInt64>] = [:]
    var all = ReplayStats.histogram()
    var reproducedENOENT = 0
    var unexpectedSuccess = 0
    var failures = 0
    var failureSamples: [String] = []
    var skipped: [String: Int] = [:]

    static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }

    func record(_ op: MetadataOp, micros: UInt64, outcome: Outcome) {
        completed += 1
        let value = max(1, min(micros, 60_000_000))
        _ = byOp[op, default: Self.histogram()].record(value)
        _ = all.record(value)
        switch outcome {
        case .ok: break
        case .reproducedENOENT: reproducedENOENT += 1
        case .unexpectedSuccess: unexpectedSuccess += 1
        case .failed(let message):
            failures += 1
            if failureSamples.count < 5 { failureSamples.append(message) }
        }
    }

    func skip(_ op: MetadataOp, _ reason: String) {
        completed += 1
        skipped["\(op): \(reason)", default: 0] += 1
    }
}
