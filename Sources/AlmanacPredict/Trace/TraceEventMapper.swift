/// Maps the system calls of one process to the metadata operations its file-system client would send
/// (see docs/prediction.md, "Event definition"). One instance per process (stream).
///
/// - Paths are resolved to absolute, lexically normalised paths: fd-relative calls through the process's fd
///   table (filled by successful open/openat/creat, emptied by close and, for O_CLOEXEC fds, by execve),
///   AT_FDCWD and relative paths through the cwd (set by chdir; unknown at process start, then the key is
///   prefixed with "@cwd/"). Calls on an fd the process did not open in the trace (inherited) are dropped.
/// - Pseudo file systems (/proc, /sys, /dev) are dropped: they never reach a metadata service.
/// - fstat-like calls on an open fd (newfstatat(fd, "", AT_EMPTY_PATH)) are dropped: served from the open handle.
/// - Immediate repeats of the same (file, op) in the stream are collapsed into one event (a client cache absorbs
///   them; this also turns a run of getdents64 on one directory into one readdir).
public struct TraceEventMapper: Sendable {
    public struct Mapped: Sendable, Hashable {
        public var path: String
        public var op: MetadataOp
        public var time: Int64
    }

    /// Why records were not mapped (for the report).
    public private(set) var dropped: [String: Int] = [:]
    public private(set) var collapsedRepeats = 0

    private var cwd: String?
    private var fds: [Int64: (path: String, cloexec: Bool)] = [:]
    private var lastEmitted: (path: String, op: MetadataOp)?

    public init(cwd: String? = nil) { self.cwd = cwd.map { Self.normalize($0) } }

    public mutating func map(_ r: SyscallRecord) -> Mapped? {
        let ok = (r.result ?? -1) >= 0
        let missing = r.errno == "ENOENT" || r.errno == "ENOTDIR"
        func path(_ i: Int) -> String? { i < r.args.count ? StraceParser.unquote(r.args[i]) : nil }
        func arg(_ i: Int) -> String { i < r.args.count ? r.args[i] : "" }
        var target: String?
        var op: MetadataOp?
        switch r.name {
        case "openat", "open", "creat":
            let (dir, p, flags) = r.name == "openat" ? (arg(0), path(1), arg(2)) : ("AT_FDCWD", path(0), r.name == "creat" ? "O_CREAT" : arg(1))
            guard let p else { return drop("openat-unreadable") }
            target = resolve(dir, p)
            let creates = flags.contains("O_CREAT")
            if ok, let t = target, let fd = r.result { fds[fd] = (t, flags.contains("O_CLOEXEC")) }
            op = ok ? (creates ? .create : .open) : (missing ? .lookup : (creates ? .create : .open))
        case "newfstatat", "fstatat64", "statx", "faccessat", "faccessat2":
            guard let p = path(1) else { return drop("stat-unreadable") }
            if p.isEmpty {
                return drop("fstat-on-open-fd")
            }
            target = resolve(arg(0), p)
            op = ok ? .getattr : .lookup
        case "stat", "lstat", "access", "stat64", "lstat64":
            guard let p = path(0) else { return drop("stat-unreadable") }
            target = resolve("AT_FDCWD", p)
            op = ok ? .getattr : .lookup
        case "readlink", "readlinkat":
            let p = r.name == "readlink" ? path(0) : path(1)
            guard let p else { return drop("readlink-unreadable") }
            target = resolve(r.name == "readlink" ? "AT_FDCWD" : arg(0), p)
            op = missing ? .lookup : .readlink
        case "getdents64", "getdents":
            target = fdPath(arg(0))
            op = .readdir
        case "mkdir", "mkdirat":
            let (dir, p) = r.name == "mkdir" ? ("AT_FDCWD", path(0)) : (arg(0), path(1))
            guard let p else { return drop("mkdir-unreadable") }
            target = resolve(dir, p); op = .mkdir
        case "unlink", "unlinkat", "rmdir":
            let (dir, p) = r.name == "unlinkat" ? (arg(0), path(1)) : ("AT_FDCWD", path(0))
            guard let p else { return drop("unlink-unreadable") }
            target = resolve(dir, p)
            op = r.name == "rmdir" || arg(2).contains("AT_REMOVEDIR") ? .rmdir : .unlink
        case "rename", "renameat", "renameat2":
            let (dir, p) = r.name == "rename" ? ("AT_FDCWD", path(0)) : (arg(0), path(1))
            guard let p else { return drop("rename-unreadable") }
            target = resolve(dir, p); op = .rename
        case "chmod", "chown", "lchown", "truncate", "utime", "utimes":
            guard let p = path(0) else { return drop("setattr-unreadable") }
            target = resolve("AT_FDCWD", p); op = missing ? .lookup : .setattr
        case "fchmodat", "fchownat", "utimensat", "futimesat":
            if let p = path(1), !p.isEmpty { target = resolve(arg(0), p) } else { target = fdPath(arg(0)) }
            op = missing ? .lookup : .setattr
        case "fchmod", "fchown", "ftruncate":
            target = fdPath(arg(0)); op = .setattr
        case "close":
            guard let fd = Int64(arg(0)), let entry = fds.removeValue(forKey: fd) else { return drop("close-unknown-fd") }
            target = entry.path; op = .close
        case "execve", "execveat":
            guard let p = path(r.name == "execve" ? 0 : 1) else { return drop("execve-unreadable") }
            target = resolve(r.name == "execve" ? "AT_FDCWD" : arg(0), p)
            if ok { fds = fds.filter { !$0.value.cloexec } }
            op = ok ? .open : .lookup
        case "chdir":
            guard let p = path(0) else { return drop("chdir-unreadable") }
            target = resolve("AT_FDCWD", p)
            if ok, let t = target, !t.hasPrefix("@cwd") { cwd = t }
            op = ok ? .getattr : .lookup
        case "symlink", "link", "symlinkat", "linkat":
            let p: String?
            let dir: String
            switch r.name {
            case "symlink", "link": p = path(1); dir = "AT_FDCWD"
            case "symlinkat": p = path(2); dir = arg(1)
            default: p = path(3); dir = arg(2)
            }
            guard let p else { return drop("link-unreadable") }
            target = resolve(dir, p); op = .create
        default:
            return drop("syscall-not-metadata:\(r.name)")
        }
        guard let t = target else { return drop("unresolved-fd") }
        guard let o = op else { return drop("unmapped") }
        if Self.isPseudo(t) { return drop("pseudo-fs") }
        if let l = lastEmitted, l.path == t, l.op == o { collapsedRepeats += 1; return nil }
        lastEmitted = (t, o)
        return Mapped(path: t, op: o, time: r.time)
    }

    private mutating func drop(_ reason: String) -> Mapped? {
        dropped[reason, default: 0] += 1
        return nil
    }

    private func fdPath(_ fdArg: String) -> String? {
        guard let fd = Int64(fdArg) else { return nil }
        return fds[fd]?.path
    }

    /// Absolute normalised path of `p` relative to `dirArg` (AT_FDCWD or an fd number); nil if the fd is unknown.
    func resolve(_ dirArg: String, _ p: String) -> String? {
        if p.hasPrefix("/") { return Self.normalize(p) }
        let base: String
        if dirArg == "AT_FDCWD" { base = cwd ?? "@cwd" } else if let b = fdPath(dirArg) { base = b } else { return nil }
        return Self.normalize(base + "/" + p)
    }

    static func isPseudo(_ p: String) -> Bool {
        for root in ["/proc", "/sys", "/dev"] where p == root || p.hasPrefix(root + "/") { return true }
        return false
    }

    /// Lexical normalisation: collapses "//", "." and "..". Keeps a leading "@cwd" marker.
    public static func normalize(_ p: String) -> String {
        var parts: [Substring] = []
        let marker = p.hasPrefix("@cwd")
        for c in p.split(separator: "/") {
            if c == "." || c.isEmpty { continue }
            if c == "..", let l = parts.last, l != "..", l != "@cwd" { parts.removeLast(); continue }
            if c == "..", parts.isEmpty, !marker { continue }
            parts.append(c)
        }
        return marker ? parts.joined(separator: "/") : "/" + parts.joined(separator: "/")
    }
}
