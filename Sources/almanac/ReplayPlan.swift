import AlmanacPredict

/// A bad trace or replay parameter.
struct ReplayError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What `almanac replay` does with a trace (pure): the namespace to create first, and the events.
///
/// Paths are replayed inside the sandbox directory: `/a/b` becomes `SANDBOX/a/b`, a path relative
/// to a process's unknown starting directory (`@cwd/x`, see docs/prediction.md) becomes
/// `SANDBOX/@cwd/x`, and `@cwd/../x` becomes `SANDBOX/x`. A path whose `..` climbs above the
/// sandbox root, or with a NUL or an over-long component, escapes or breaks the sandbox: refused.
struct ReplayPlan: Sendable {
    enum Kind: String, Sendable { case directory, file, symlink }

    /// Entries to create before the replay, parents first (components below the sandbox).
    var setup: [(path: [String], kind: Kind)]
    var events: [OpEvent]
    /// File id -> components below the sandbox.
    var paths: [[String]]
    /// The index of each stream's last event (its client closes after it).
    var lastEvent: [UInt32: Int]
    /// Events whose outcome in the trace was ENOENT (`lookup`).
    var expectedFailures: Int

    static let maxComponentBytes = 255

    static func components(_ path: String) throws(ReplayError) -> [String] {
        guard path != "/" else { return [] }
        // `@cwd` (a process's unknown starting directory) is the directory "@cwd" of the sandbox;
        // a ".." may climb from it up to the sandbox root, not above.
        let relative = path.hasPrefix("@cwd")
        var out: [String] = []
        for (offset, part) in path.split(separator: "/", omittingEmptySubsequences: false).map(String.init).enumerated() {
            if part.isEmpty && (offset == 0 || relative) { continue }
            guard !part.isEmpty, part != "." else { throw ReplayError("trace path \"\(path)\" has an empty or \".\" component") }
            if part == ".." {
                guard !out.isEmpty else { throw ReplayError("trace path \"\(path)\" escapes the sandbox (\"..\" above its root)") }
                out.removeLast()
                continue
            }
            guard !part.utf8.contains(0) else { throw ReplayError("trace path \"\(path)\" contains a NUL byte") }
            guard part.utf8.count <= maxComponentBytes else {
                throw ReplayError("trace path \"\(path)\" has a component of \(part.utf8.count) bytes (limit \(maxComponentBytes))")
            }
            out.append(part)
        }
        return out
    }

    /// Builds the plan; `limit` keeps the first events only.
    static func build(_ trace: OpTrace, limit: Int?) throws(ReplayError) -> ReplayPlan {
        guard !trace.events.isEmpty else {
            throw ReplayError("the trace has no metadata events (\(trace.syscalls) syscalls parsed, \(trace.skippedLines) lines skipped): not an strace -ff -tt trace?")
        }
        if trace.skippedLines > trace.syscalls {
            throw ReplayError("the trace is malformed: \(trace.skippedLines) lines could not be parsed, against \(trace.syscalls) syscalls")
        }
        var paths: [[String]] = []
        for path in trace.paths { paths.append(try components(path)) }
        let events = limit.map { Array(trace.events.prefix($0)) } ?? trace.events
        var firstOp: [UInt32: MetadataOp] = [:]
        var ops: [UInt32: Set<MetadataOp>] = [:]
        var lastEvent: [UInt32: Int] = [:]
        var expected = 0
        for (index, event) in events.enumerated() {
            if firstOp[event.file] == nil { firstOp[event.file] = event.op }
            ops[event.file, default: []].insert(event.op)
            lastEvent[event.stream] = index
            if event.op == .lookup { expected += 1 }
        }
        // Every proper prefix of a used path is a directory.
        var kinds: [[String]: Kind] = [:]
        for file in ops.keys {
            let path = paths[Int(file)]
            for length in stride(from: 1, to: path.count, by: 1) { kinds[Array(path.prefix(length))] = .directory }
        }
        // A file exists before the replay unless the trace first looks it up in vain or creates it.
        for (file, first) in firstOp {
            let path = paths[Int(file)]
            guard !path.isEmpty else { continue }
            if first == .lookup || first == .create || first == .mkdir {
                if kinds[path] == .directory { kinds.removeValue(forKey: path) }
                continue
            }
            if kinds[path] == nil {
                let used = ops[file] ?? []
                kinds[path] = used.contains(.readdir) || used.contains(.rmdir) ? .directory : used.contains(.readlink) ? .symlink : .file
            }
        }
        // Drop entries below a directory the replay itself creates (or that must stay absent).
        var setup: [(path: [String], kind: Kind)] = []
        for (path, kind) in kinds.sorted(by: { $0.key.count != $1.key.count ? $0.key.count < $1.key.count : $0.key.lexicographicallyPrecedes($1.key) }) {
            let parentsExist = (1..<max(1, path.count)).allSatisfy { kinds[Array(path.prefix($0))] == .directory }
            if parentsExist { setup.append((path, kind)) }
        }
        return ReplayPlan(setup: setup, events: events, paths: paths, lastEvent: lastEvent, expectedFailures: expected)
    }
}
