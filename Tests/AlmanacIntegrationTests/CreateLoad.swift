import AlmanacClient
import AlmanacTestSupport
import Foundation
import Synchronization
import Testing

/// A steady create load for kill tests: writers create fresh names in a set of directories and keep
/// a ledger of what was acknowledged, what is uncertain (no answer) and what was applied twice (a
/// create of a fresh name answered EEXIST). ``verify(_:)`` checks the namespace against it.
final class CreateLoad: Sendable {
    struct Ledger: Sendable {
        var acknowledged: [String: Set<String>] = [:]
        var uncertain: [String: Set<String>] = [:]
        var doubleApplied: [String] = []
        var failures = 0
    }

    static let seedName = "-with-a-name-long-enough-to-fill-pages"
    let directories: [(name: String, inode: UInt64)]
    let seeds: Int
    private let ledger = Mutex(Ledger())
    private let stopped = Mutex(false)
    private let writers = Mutex<[Task<Void, Never>]>([])

    /// Makes `count` directories with `seeds` files each (through `admin`).
    init(_ admin: AlmanacClient, directories count: Int, seeds: Int) async throws {
        var directories: [(String, UInt64)] = []
        for i in 0..<count {
            let directory = try await admin.mkdir(parent: rootInode, name: "w\(i)")
            directories.append(("w\(i)", directory.inode))
            for j in 0..<seeds { _ = try await admin.create(parent: directory.inode, name: "seed-\(j)\(Self.seedName)") }
        }
        self.directories = directories
        self.seeds = seeds
    }

    /// Starts `workers` writers on `cluster`.
    func start(_ cluster: TestCluster, workers: Int) {
        let tasks = (0..<workers).map { worker in
            Task { [self] in
                let client = cluster.client(operationTimeout: 20)
                var i = 0
                while !stopped.withLock({ $0 }) {
                    let (name, inode) = directories[(worker + i * workers) % directories.count]
                    let file = "n-\(worker)-\(i)"
                    i += 1
                    do {
                        _ = try await client.create(parent: inode, name: file)
                        ledger.withLock { $0.acknowledged[name, default: []].insert(file) }
                    } catch let error as AlmanacClientError where error.code == .eexist {
                        ledger.withLock { $0.doubleApplied.append("\(name)/\(file)") }
                    } catch {
                        ledger.withLock { $0.uncertain[name, default: []].insert(file); $0.failures += 1 }
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                }
                await client.shutdown()
            }
        }
        writers.withLock { $0 += tasks }
    }

    func stop() async {
        stopped.withLock { $0 = true }
        for writer in writers.withLock({ $0 }) { await writer.value }
    }

    var snapshot: Ledger { ledger.withLock { $0 } }

    /// Every acknowledged create is listed exactly once, nothing was applied twice, every listed
    /// name was created by someone, every seed is there. Returns the acknowledged creates.
    @discardableResult
    func verify(_ cluster: TestCluster, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int {
        let final = snapshot
        #expect(final.doubleApplied == [], "creates applied twice: \(final.doubleApplied)", sourceLocation: sourceLocation)
        var total = 0
        let fresh = cluster.client()
        defer { Task { await fresh.shutdown() } }
        for (name, inode) in directories {
            let listed = try await fresh.readdir(inode).collect().map(\.name)
            #expect(listed.count == Set(listed).count, "\(name): names listed twice", sourceLocation: sourceLocation)
            let present = Set(listed)
            let lost = final.acknowledged[name, default: []].subtracting(present)
            #expect(lost.isEmpty, "\(name): acknowledged creates lost: \(lost.sorted().prefix(5))", sourceLocation: sourceLocation)
            let unexplained = present.subtracting(final.acknowledged[name, default: []]).subtracting(final.uncertain[name, default: []])
                .filter { !$0.hasPrefix("seed-") }
            #expect(unexplained.isEmpty, "\(name): entries nobody created: \(unexplained.sorted().prefix(5))", sourceLocation: sourceLocation)
            for seed in 0..<seeds { #expect(present.contains("seed-\(seed)\(Self.seedName)"), sourceLocation: sourceLocation) }
            // Every record answers from the shard the map names (getattr is routed by the map).
            _ = try await fresh.getattr(inode)
            total += final.acknowledged[name, default: []].count
        }
        return total
    }
}
