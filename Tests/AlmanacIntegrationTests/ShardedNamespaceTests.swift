import AlmanacTestSupport
import AlmanacClient
import AlmanacKeyspace
import AlmanacWire
import Foundation
import Synchronization
import Testing

/// The sharded namespace on real processes: a 3-node cluster with 4 shards, several clients each
/// driving a seeded random workload in its own subtree (directories hash to segments all over the
/// shards, so most mkdirs and cross-directory renames, links and unlinks are cross-shard
/// transactions). Each client keeps a reference model of its subtree; at the end the cluster's tree
/// must equal it, and every shard's replicas must converge. The second test SIGKILLs nodes (any of
/// them may be a coordinator or a participant) during the workload and restarts them: operations
/// whose outcome the client could not learn are resolved by looking, and must be all-or-nothing.
@Suite("Sharded namespace (real processes)", .serialized, .timeLimit(.minutes(4)))
struct ShardedNamespaceTests {
    static let shards = 4
    static let workers = 3

    @Test("random operations across shards match a reference model; replicas converge")
    func randomOperationsMatchTheModel() async throws {
        try await run(name: "sharded", operations: 60, kills: false)
    }

    @Test("random operations across shards with nodes SIGKILLed and restarted: all-or-nothing, nothing acknowledged lost")
    func randomOperationsSurviveKills() async throws {
        try await run(name: "sharded-kill", operations: 60, kills: true)
    }

    @Test("a client with a stale map is refused (WRONG_SHARD), refreshes once and never misplaces a write")
    func staleMapsAreRefusedAndRefreshedOnce() async throws {
        let cluster = try await TestCluster.start(name: "stale-map", shards: Self.shards)
        defer { cluster.shutdown() }
        let admin = cluster.client()
        defer { Task { await admin.shutdown() } }
        _ = try await FailoverTests.waitForLeader(admin)
        let truth = try await admin.currentShardMap()
        // A map from "before" a move: every segment in shard 0, same epoch as the real one.
        let stale = try ShardMap(keying: truth.keying, epoch: truth.epoch, owners: Array(repeating: 0, count: truth.keying.segmentCount),
                                 shards: truth.shards.values.sorted { $0.id < $1.id })
        var configuration = AlmanacClientConfiguration(endpoints: cluster.endpoints, clientName: "stale")
        configuration.initialShardMap = stale
        let client = AlmanacClient(configuration: configuration)
        defer { Task { await client.shutdown() } }
        var created: [String] = []
        for i in 0..<12 {
            let directory = try await client.mkdir(parent: rootInode, name: "stale-\(i)")
            _ = try await client.create(parent: directory.inode, name: "f")
            created.append("stale-\(i)")
        }
        // One refresh (one round trip) put the client right; writes went to the owners.
        #expect(await client.shardMapFetches == 1)
        #expect(try await client.currentShardMap() == truth)
        let listed = try await admin.readdir(rootInode).collect().map(\.name).filter { $0.hasPrefix("stale-") }.sorted()
        #expect(listed == created.sorted())
        var shards: Set<UInt16> = []
        for name in created {
            let directory = try await admin.lookup(parent: rootInode, name: name)
            #expect(try await admin.lookup(parent: directory.inode, name: "f").type == .regular)
            shards.insert(try await admin.shard(ofInode: directory.inode))
        }
        #expect(shards.count > 1, "the directories should have landed on several shards")
    }

    func run(name: String, operations: Int, kills: Bool) async throws {
        let cluster = try await TestCluster.start(name: name, shards: Self.shards)
        defer { cluster.shutdown() }
        let admin = cluster.client(operationTimeout: 30)
        defer { Task { await admin.shutdown() } }
        _ = try await FailoverTests.waitForLeader(admin)
        let map = try await admin.currentShardMap()
        #expect(map.shards.count == Self.shards)

        let progress = SharedValue<Int>(0)
        let killer: Task<Void, Never>? = kills ? Task {
            var victim: UInt64 = 1
            for round in 0..<3 {
                while progress.value < (round + 1) * operations * Self.workers / 4 {
                    try? await Task.sleep(for: .milliseconds(50))
                    if Task.isCancelled { return }
                }
                cluster.kill(victim)
                try? await Task.sleep(for: .milliseconds(1500))
                try? await cluster.restart(victim)
                victim = victim % 3 + 1
            }
        } : nil

        let results = await withTaskGroup(of: (String, [String], Set<String>).self) { group in
            for worker in 0..<Self.workers {
                group.addTask {
                    let client = cluster.client(operationTimeout: 30)
                    defer { Task { await client.shutdown() } }
                    var runner = ModelRunner(client: client, seed: UInt64(worker + 1) * 7919, root: "/w\(worker)")
                    let violations = await runner.run(operations: operations, progress: progress)
                    return (runner.root, violations, runner.directories)
                }
            }
            var all: [(String, [String], Set<String>)] = []
            for await result in group { all.append(result) }
            return all
        }
        killer?.cancel()
        _ = await killer?.value
        var spread: Set<UInt16> = []
        for (root, violations, directories) in results {
            #expect(violations.isEmpty, "\(root): \(violations.prefix(5))")
            for path in directories {
                if let attributes = try? await admin.resolve(path), let shard = try? await admin.shard(ofInode: attributes.inode) {
                    spread.insert(shard)
                }
            }
        }
        // The workers' directories spread over every shard.
        #expect(spread.count == Self.shards, "directories landed on shards \(spread.sorted())")
        let problems = await Convergence.digestsDiffer(cluster: cluster, nodes: [1, 2, 3])
        var settled = problems
        for _ in 0..<60 where !settled.isEmpty {
            try await Task.sleep(for: .milliseconds(500))
            settled = await Convergence.digestsDiffer(cluster: cluster, nodes: [1, 2, 3])
        }
        #expect(settled.isEmpty, "\(settled)")
    }
}

/// One client's seeded workload over its own subtree, with a reference model (path -> "d" or "f").
struct ModelRunner {
    let client: AlmanacClient
    var rng: SeededRandom
    let root: String
    var model: [String: String] = [:]
    var violations: [String] = []

    init(client: AlmanacClient, seed: UInt64, root: String) {
        self.client = client
        self.rng = SeededRandom(seed: seed)
        self.root = root
    }

    var directories: Set<String> { Set(model.filter { $0.value == "d" }.keys) }
    var files: [String] { model.filter { $0.value == "f" }.keys.sorted() }

    mutating func run(operations: Int, progress: SharedValue<Int>) async -> [String] {
        do {
            _ = try await client.mkdir(path: root)
        } catch {
            return ["cannot create \(root): \(error)"]
        }
        model[root] = "d"
        var counter = 0
        for _ in 0..<operations {
            counter += 1
            let dirs = directories.sorted()
            let choice = rng.next(100)
            if choice < 30 || files.isEmpty {
                let parent = dirs[rng.next(dirs.count)]
                let isDirectory = rng.next(2) == 0 || dirs.count < 3
                let path = parent + "/" + (isDirectory ? "d\(counter)" : "f\(counter)")
                await apply(isDirectory ? "mkdir" : "create", changes: [path: isDirectory ? "d" : "f"]) { client in
                    if isDirectory { _ = try await client.mkdir(path: path) } else { _ = try await client.create(path: path) }
                }
            } else if choice < 55 {
                // Move a file to another directory (usually another shard).
                let file = files[rng.next(files.count)]
                let target = dirs[rng.next(dirs.count)] + "/m\(counter)"
                await apply("mv \(file) \(target)", changes: [file: nil, target: "f"]) { client in
                    try await client.rename(from: file, to: target)
                }
            } else if choice < 65 {
                // Move a whole leaf directory elsewhere (not into itself).
                let leaves = dirs.filter { d in d != root && !model.keys.contains { $0.hasPrefix(d + "/") } }
                guard let leaf = leaves.isEmpty ? nil : leaves[rng.next(leaves.count)] else { continue }
                let targets = dirs.filter { $0 != leaf }
                let target = targets[rng.next(targets.count)] + "/r\(counter)"
                await apply("mv \(leaf) \(target)", changes: [leaf: nil, target: "d"]) { client in
                    try await client.rename(from: leaf, to: target)
                }
            } else if choice < 75 {
                let file = files[rng.next(files.count)]
                let link = dirs[rng.next(dirs.count)] + "/l\(counter)"
                await apply("link \(file) \(link)", changes: [link: "f"]) { client in
                    let target = try await client.resolve(file)
                    let (parent, name) = try await client.resolveParent(link)
                    _ = try await client.link(target.inode, newParent: parent.inode, newName: name)
                }
            } else if choice < 90 {
                let file = files[rng.next(files.count)]
                await apply("unlink \(file)", changes: [file: nil]) { client in try await client.unlink(path: file) }
            } else {
                let empty = dirs.filter { d in d != root && !model.keys.contains { $0.hasPrefix(d + "/") } }
                guard let victim = empty.isEmpty ? nil : empty[rng.next(empty.count)] else { continue }
                await apply("rmdir \(victim)", changes: [victim: nil]) { client in try await client.rmdir(path: victim) }
            }
            progress.update { $0 += 1 }
        }
        // The final tree must equal the model.
        do {
            let actual = try await tree()
            if actual != model {
                let missing = model.filter { actual[$0.key] != $0.value }.keys.sorted().prefix(5)
                let extra = actual.filter { model[$0.key] != $0.value }.keys.sorted().prefix(5)
                violations.append("final tree differs: missing/changed \(Array(missing)), unexpected \(Array(extra))")
            }
        } catch {
            violations.append("cannot read the final tree: \(error)")
        }
        return violations
    }

    /// Runs one operation. Success: the model takes `changes`. A definite error: a violation (the
    /// workload only issues valid operations). An unknown outcome (timeout, unavailable): the tree is
    /// read back and must show all of `changes` or none of them.
    mutating func apply(_ what: String, changes: [String: String?], _ body: (AlmanacClient) async throws -> Void) async {
        do {
            try await body(client)
            for (path, value) in changes { model[path] = value }
        } catch let error as AlmanacClientError where error.isClusterUnavailable || error.kind == .timeout {
            // Unknown outcome: look.
            for _ in 0..<20 {
                guard let actual = try? await tree() else {
                    try? await Task.sleep(for: .milliseconds(500))
                    continue
                }
                let applied = changes.allSatisfy { actual[$0.key] == $0.value }
                let untouched = changes.allSatisfy { actual[$0.key] == model[$0.key] }
                if applied {
                    for (path, value) in changes { model[path] = value }
                } else if !untouched {
                    violations.append("\(what): half-done after \(error)")
                }
                return
            }
            violations.append("\(what): cannot read the tree back after \(error)")
        } catch {
            violations.append("\(what): \(error)")
        }
    }

    /// The subtree under `root` as paths -> "d" / "f".
    func tree() async throws -> [String: String] {
        var result: [String: String] = [root: "d"]
        var pending = [(try await client.resolve(root).inode, root)]
        while let (directory, path) = pending.popLast() {
            for entry in try await client.readdir(directory).collect() {
                let child = path + "/" + entry.name
                if entry.type == .directory {
                    result[child] = "d"
                    pending.append((entry.inode, child))
                } else {
                    result[child] = "f"
                }
            }
        }
        return result
    }
}

/// SplitMix64, seeded.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(max(1, bound)))
    }
}
