import Foundation

/// One metadata operation the load generator can issue.
enum BenchOperation: String, CaseIterable, Sendable, Codable {
    case create, getattr, lookup, readdir, setattr, unlink, mkdir, rename
    /// A symbolic link whose target is `--symlink-target-bytes` long (up to 4096): the way to grow a
    /// shard's state by kilobytes per operation (bench/migrate.sh fills a 1 GiB shard with them).
    case symlink

    /// Whether the operation is a journaled (majority-replicated, fsynced) write.
    var isWrite: Bool {
        switch self {
        case .create, .setattr, .unlink, .mkdir, .rename, .symlink: true
        case .getattr, .lookup, .readdir: false
        }
    }
}

/// A weighted operation mix. Pure: picks an operation from a uniform random number.
struct BenchMix: Sendable, Equatable, CustomStringConvertible {
    /// Operations with positive integer weights, in a fixed order.
    let name: String
    let weights: [(operation: BenchOperation, weight: Int)]

    static func == (lhs: BenchMix, rhs: BenchMix) -> Bool {
        lhs.name == rhs.name && lhs.weights.map(\.operation) == rhs.weights.map(\.operation)
            && lhs.weights.map(\.weight) == rhs.weights.map(\.weight)
    }

    var totalWeight: Int { weights.reduce(0) { $0 + $1.weight } }

    /// Whether any operation reads or changes files that must exist before the measured run.
    var needsPopulatedFiles: Bool { weights.contains { ![.create, .mkdir, .symlink].contains($0.operation) } }

    var description: String {
        "\(name) (" + weights.map { "\($0.operation.rawValue) \($0.weight)" }.joined(separator: ", ") + ")"
    }

    /// The operation for a uniform draw `r` in `0 ..< totalWeight`.
    func operation(forDraw r: Int) -> BenchOperation {
        var remaining = r
        for entry in weights {
            if remaining < entry.weight { return entry.operation }
            remaining -= entry.weight
        }
        return weights[weights.count - 1].operation
    }

    /// Pure creates: the like-for-like counterpart of etcd's Put benchmark.
    static let create = BenchMix(name: "create", weights: [(.create, 1)])
    /// Mostly creates, with some stats of files just created.
    static let createHeavy = BenchMix(name: "create-heavy", weights: [(.create, 80), (.getattr, 10), (.lookup, 10)])
    /// Mostly attribute reads (getattr by inode, lookup by name), a few creates.
    static let statHeavy = BenchMix(name: "stat-heavy", weights: [(.getattr, 70), (.lookup, 25), (.create, 5)])
    /// A metadata "personality" taken from the real traces in shared/data/ops (pip build + git
    /// session, ~44k file-system calls, mapped as that README says; close and execve left out):
    /// stat/access/readlink -> getattr 62.3%, open without O_CREAT -> lookup 26.8%, getdents ->
    /// readdir 5.3%, chmod/chown/utimens -> setattr 2.0%, open with O_CREAT -> create 1.7%,
    /// unlink 1.1%, mkdir 0.6%, rename 0.2% (per mille below).
    static let mixed = BenchMix(name: "mixed", weights: [
        (.getattr, 623), (.lookup, 268), (.readdir, 53), (.setattr, 20), (.create, 17), (.unlink, 11), (.mkdir, 6), (.rename, 2),
    ])

    static let presets: [BenchMix] = [.create, .createHeavy, .statHeavy, .mixed]

    /// A preset by name, or a custom mix "op=weight,op=weight".
    static func parse(_ text: String) throws(BenchMixError) -> BenchMix {
        if let preset = presets.first(where: { $0.name == text }) { return preset }
        var weights: [(operation: BenchOperation, weight: Int)] = []
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let operation = BenchOperation(rawValue: pair[0]), let weight = Int(pair[1]), weight >= 0 else {
                throw BenchMixError(text: text)
            }
            guard !weights.contains(where: { $0.operation == operation }) else { throw BenchMixError(text: text) }
            if weight > 0 { weights.append((operation, weight)) }
        }
        guard !weights.isEmpty else { throw BenchMixError(text: text) }
        return BenchMix(name: text, weights: weights)
    }
}

/// An unusable `--mix` value.
struct BenchMixError: Error, CustomStringConvertible {
    let text: String
    var description: String {
        "unknown mix \"\(text)\": use one of " + BenchMix.presets.map(\.name).joined(separator: ", ")
            + " or op=weight pairs, e.g. create=3,getattr=1 (ops: "
            + BenchOperation.allCases.map(\.rawValue).joined(separator: ", ") + ")"
    }
}

/// File names of a fixed byte length, unique per (worker, sequence): "<prefix>-<seq>-xxxx...".
/// The name is the create's payload (see docs/benchmarks.md: etcd writes 256-byte values).
struct BenchNames: Sendable {
    let length: Int
    let prefix: String

    /// `run`: a tag that keeps this run's names apart from earlier runs' in a reused workspace.
    init(length: Int, worker: Int, run: String? = nil) {
        self.length = max(1, min(255, length))
        self.prefix = "w\(worker)" + (run.map { "r\($0)" } ?? "")
    }

    func name(_ sequence: Int) -> String {
        let core = "\(prefix)-\(sequence)-"
        let coreBytes = core.utf8.count
        guard coreBytes < length else { return core }
        // Built in one allocation: this runs once per create in the load generator's hot loop.
        return String(unsafeUninitializedCapacity: length) { bytes in
            guard let base = bytes.baseAddress else { return 0 }
            _ = UnsafeMutableBufferPointer(start: base, count: coreBytes).initialize(from: core.utf8)
            (base + coreBytes).initialize(repeating: UInt8(ascii: "x"), count: length - coreBytes)
            return length
        }
    }
}

/// The target of the bench's symlinks: `length` bytes (1...4096), the same for every link of a
/// worker ("/<worker>/ttt..."): the state each symlink adds, beyond its name and attributes.
struct BenchSymlinkTarget: Sendable {
    static let maximumBytes = 4096
    let text: String

    init(length: Int, worker: Int) {
        let bounded = max(1, min(Self.maximumBytes, length))
        let head = "/w\(worker)/"
        text = head.utf8.count >= bounded ? String(head.prefix(bounded)) : head + String(repeating: "t", count: bounded - head.utf8.count)
    }
}

/// Splitmix64: a tiny deterministic generator, so a run's operation sequence is reproducible per seed.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
