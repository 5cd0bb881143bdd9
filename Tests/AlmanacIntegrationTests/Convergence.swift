import AlmanacTestSupport
import AlmanacClient
import Foundation

/// Replica convergence: every node's own (stale) view of a directory, attributes included, must
/// become identical to the leader's linearizable view.
enum Convergence {
    /// A canonical text dump of `directory` and its entries as one client sees them.
    static func dump(_ client: AlmanacClient, directory: UInt64) async throws -> [String] {
        let attributes = try await client.getattr(directory)
        let entries = try await client.readdir(directory, pageSize: 200, withAttributes: true).collect()
        return ["dir \(describe(attributes))"] + entries.map { "\($0.name) \(describe($0.attributes))" }
    }

    static func describe(_ a: FileAttributes) -> String {
        "#\(a.inode) type=\(a.type.rawValue) mode=\(String(a.mode, radix: 8)) size=\(a.size) nlink=\(a.nlink) "
            + "mtime=\(a.mtimeNs) ctime=\(a.ctimeNs) v=\(a.version)"
    }

    /// Waits until every listed node's stale dump equals the linearizable one; returns the
    /// differences left at the deadline (empty when converged).
    static func await(cluster: TestCluster, nodes: [UInt64], directory: UInt64, reference: AlmanacClient,
                      timeout: Duration = .seconds(30)) async -> [String] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var problems: [String] = []
        while clock.now < deadline {
            problems = []
            do {
                let truth = try await dump(reference, directory: directory)
                for node in nodes {
                    let client = cluster.staleClient(node)
                    defer { Task { await client.shutdown() } }
                    do {
                        let view = try await dump(client, directory: directory)
                        if view != truth {
                            let missing = Set(truth).subtracting(view).sorted().prefix(3)
                            let extra = Set(view).subtracting(truth).sorted().prefix(3)
                            problems.append("node \(node) differs (\(view.count) vs \(truth.count) lines); missing \(Array(missing)), extra \(Array(extra))")
                        }
                    } catch {
                        problems.append("node \(node) cannot be read: \(error)")
                    }
                }
            } catch {
                problems.append("linearizable dump failed: \(error)")
            }
            if problems.isEmpty { problems = await digestsDiffer(cluster: cluster, nodes: nodes) }
            if problems.isEmpty { return [] }
            try? await Task.sleep(for: .milliseconds(300))
        }
        return problems
    }

    /// Every node's own state-machine digest of every shard (status API), at the same applied index.
    static func digestsDiffer(cluster: TestCluster, nodes: [UInt64]) async -> [String] {
        var views: [UInt64: [UInt64: (applied: UInt64, digest: UInt64)]] = [:]
        for node in nodes {
            let client = cluster.staleClient(node)
            defer { Task { await client.shutdown() } }
            guard let status = try? await client.status(stateDigests: true), status.responderNodeID == node else {
                return ["node \(node) did not answer the status request itself"]
            }
            views[node] = Dictionary(status.shards.map { ($0.shardID, ($0.appliedIndex, $0.stateDigest)) }, uniquingKeysWith: { a, _ in a })
        }
        var problems: [String] = []
        // A status without digests (the polls' form) costs no O(state) work: every digest is 0.
        if let node = nodes.first {
            let client = cluster.staleClient(node)
            if let plain = try? await client.status(), plain.shards.contains(where: { $0.stateDigest != 0 }) {
                problems.append("node \(node) computed state digests nobody asked for")
            }
            await client.shutdown()
        }
        for shard in 0..<UInt64(cluster.shards) {
            let seen = nodes.compactMap { views[$0]?[shard] }
            guard seen.count == nodes.count else {
                problems.append("shard \(shard) is missing from some node's status")
                continue
            }
            if seen.contains(where: { $0.digest == 0 }) { problems.append("shard \(shard): a node reports no digest") }
            if Set(seen.map(\.applied)).count != 1 || Set(seen.map(\.digest)).count != 1 {
                problems.append("shard \(shard): applied/digest differ: \(nodes.map { "node \($0): \(views[$0]?[shard].map { "\($0.applied)/\(String($0.digest, radix: 16))" } ?? "?")" })")
            }
        }
        return problems
    }
}
