/// One completed system call from an `strace -ff -tt` file.
public struct SyscallRecord: Sendable, Hashable {
    /// Microseconds since midnight (from -tt), made monotonic across midnight by the parser.
    public var time: Int64
    public var name: String
    /// Top-level arguments, as printed (strings keep their quotes).
    public var args: [String]
    /// Return value (nil when it could not be read, e.g. `= ?`).
    public var result: Int64?
    /// Error name for failures, e.g. "ENOENT".
    public var errno: String?
}

/// Parses the text of one `strace -ff -tt` per-process file. Joins `<unfinished ...>` with the matching
/// `<... name resumed>` (the start time is kept); skips signal (`---`) and exit (`+++`) lines and lines
/// it cannot read (counted in `skippedLines`).
public struct StraceParser: Sendable {
    public private(set) var skippedLines = 0
    private var pending: (time: Int64, text: String)?
    private var lastTime: Int64 = 0
    private var dayOffset: Int64 = 0

    public init() {}

    /// Parses a whole file.
    public static func parse(_ text: String) -> (records: [SyscallRecord], skipped: Int) {
        var p = StraceParser()
        var out: [SyscallRecord] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let r = p.feed(line) { out.append(r) }
        }
        return (out, p.skippedLines)
    }

    /// Feeds one line; returns a record when a call completes.
    public mutating func feed<S: StringProtocol>(_ rawLine: S) -> SyscallRecord? {
        let line = Substring(rawLine)
        guard let space = line.firstIndex(of: " "), var time = Self.parseClock(line[..<space]) else { skippedLines += 1; return nil }
        // -tt has no date: keep time monotonic across midnight.
        time += dayOffset
        if time + 43_200_000_000 < lastTime { dayOffset += 86_400_000_000; time += 86_400_000_000 }
        lastTime = time
        let body = line[line.index(after: space)...]
        if body.hasPrefix("---") || body.hasPrefix("+++") { return nil }
        if body.hasPrefix("<... ") {
            guard let p = pending, let close = body.range(of: " resumed>") else { skippedLines += 1; return nil }
            pending = nil
            return parseCall(p.text + body[close.upperBound...], time: p.time)
        }
        if let u = body.range(of: " <unfinished ...>") {
            pending = (time, String(body[..<u.lowerBound]))
            return nil
        }
        return parseCall(String(body), time: time)
    }

    /// "HH:MM:SS.micro" -> microseconds.
    static func parseClock(_ s: Substring) -> Int64? {
        let parts = s.split(separator: ":")
        guard parts.count == 3, let h = Int64(parts[0]), let m = Int64(parts[1]) else { return nil }
        let sec = parts[2].split(separator: ".")
        guard let whole = Int64(sec[0]) else { return nil }
        var micros: Int64 = 0
        if sec.count > 1 {
            let digits = sec[1].prefix(6)
            guard let f = Int64(digits) else { return nil }
            micros = f
            for _ in digits.count..<6 { micros *= 10 }
        }
        return ((h * 60 + m) * 60 + whole) * 1_000_000 + micros
    }

    private mutating func parseCall(_ text: String, time: Int64) -> SyscallRecord? {
        let chars = Array(text.utf8)
        guard let open = chars.firstIndex(of: UInt8(ascii: "(")), open > 0 else { skippedLines += 1; return nil }
        let name = String(decoding: chars[..<open], as: UTF8.self)
        var args: [String] = []
        var depth = 0, inQuote = false, escaped = false
        var start = open + 1
        var end: Int?
        var i = open + 1
        while i < chars.count {
            let c = chars[i]
            if inQuote {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inQuote = false }
            } else {
                switch c {
                case UInt8(ascii: "\""): inQuote = true
                case UInt8(ascii: "("), UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                case UInt8(ascii: ")"):
                    if depth == 0 { end = i } else { depth -= 1 }
                case UInt8(ascii: ","):
                    if depth == 0 { args.append(Self.trim(chars[start..<i])); start = i + 1 }
                default: break
                }
            }
            if end != nil { break }
            i += 1
        }
        guard let close = end else { skippedLines += 1; return nil }
        let last = Self.trim(chars[start..<close])
        if !last.isEmpty || !args.isEmpty { args.append(last) }
        // Result: after "= ".
        let rest = String(decoding: chars[(close + 1)...], as: UTF8.self)
        guard let eq = rest.range(of: "= ") else { skippedLines += 1; return nil }
        let fields = rest[eq.upperBound...].split(separator: " ")
        let result = fields.first.flatMap { f -> Int64? in
            if f.hasPrefix("0x") { return Int64(f.dropFirst(2), radix: 16) }
            return Int64(f)
        }
        let errno = (result ?? 0) < 0 && fields.count > 1 ? String(fields[1]) : nil
        return SyscallRecord(time: time, name: name, args: args, result: result, errno: errno)
    }

    private static func trim(_ bytes: ArraySlice<UInt8>) -> String {
        var s = bytes
        while let f = s.first, f == UInt8(ascii: " ") { s = s.dropFirst() }
        while let l = s.last, l == UInt8(ascii: " ") { s = s.dropLast() }
        return String(decoding: s, as: UTF8.self)
    }

    /// The path inside a quoted strace string argument ("..." possibly followed by ... when truncated), unescaped.
    public static func unquote(_ arg: String) -> String? {
        guard arg.hasPrefix("\"") else { return nil }
        var out: [UInt8] = []
        var it = Array(arg.utf8).dropFirst().makeIterator()
        while let c = it.next() {
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if c == UInt8(ascii: "\\"), let n = it.next() {
                switch n {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "0")...UInt8(ascii: "7"):
                    var v = Int(n - UInt8(ascii: "0"))
                    for _ in 0..<2 { if let d = it.next() { v = v * 8 + Int(d &- UInt8(ascii: "0")) } }
                    out.append(UInt8(truncatingIfNeeded: v))
                default: out.append(n)
                }
            } else { out.append(c) }
        }
        return nil
    }
}
