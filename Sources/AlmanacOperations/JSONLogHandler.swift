#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Synchronization

/// `--log-format`: how a node writes its log lines to stderr.
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's `StreamLogHandler` lines (for people).
    case text
    /// One JSON object per line (for log collectors), see ``JSONLogHandler``.
    case json

    /// Parses a `--log-format` value.
    public static func parse(_ text: String) throws(LogFormatError) -> LogFormat {
        guard let format = LogFormat(rawValue: text) else { throw LogFormatError(value: text) }
        return format
    }

    /// A handler factory for `LoggingSystem.bootstrap` writing to stderr at `level`.
    public func makeHandlerFactory(level: Logger.Level) -> @Sendable (String) -> any LogHandler {
        switch self {
        case .text:
            return { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case .json:
            return { label in
                var handler = JSONLogHandler(label: label, sink: .standardError)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// An unknown `--log-format` value.
public struct LogFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public var value: String
    public init(value: String) { self.value = value }
    public var description: String { "unknown log format '\(value)' (expected json or text)" }
}

/// A swift-log handler writing one JSON object per line:
/// `{"ts":"2026-12-06T05:01:02.345Z","level":"info","label":"almanac.node","message":"…","source":"AlmanacNode","node":"1",…}`.
/// Metadata keys become top-level fields (a key that clashes with a fixed field is prefixed with
/// `meta_`); nested metadata becomes JSON arrays and objects. Each line goes out in one `write(2)`.
public struct JSONLogHandler: LogHandler {
    /// Where the lines go.
    public struct Sink: Sendable {
        let write: @Sendable ([UInt8]) -> Void

        public init(write: @escaping @Sendable ([UInt8]) -> Void) { self.write = write }

        /// The process's standard error, one `write(2)` per line (serialized).
        public static let standardError = Sink { bytes in
            stderrLock.withLock { _ in
                bytes.withUnsafeBytes { raw in
                    var offset = 0
                    while offset < raw.count {
                        let written = writeStandardError(raw.baseAddress.map { $0 + offset }, raw.count - offset)
                        if written <= 0 {
                            if written < 0 && errno == EINTR { continue }
                            return
                        }
                        offset += written
                    }
                }
            }
        }
    }

    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let sink: Sink

    public init(label: String, sink: Sink, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.sink = sink
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = "{\"ts\":\"" + Self.timestamp() + "\",\"level\":\"" + event.level.rawValue + "\",\"label\":"
        Self.appendString(label, to: &line)
        line += ",\"message\":"
        Self.appendString(event.message.description, to: &line)
        line += ",\"source\":"
        Self.appendString(event.source, to: &line)
        if let error = event.error {
            line += ",\"error\":"
            Self.appendString("\(error)", to: &line)
        }
        for key in merged.keys.sorted() {
            guard let value = merged[key] else { continue }
            line += ","
            Self.appendString(Self.fixedFields.contains(key) ? "meta_" + key : key, to: &line)
            line += ":"
            Self.appendValue(value, to: &line)
        }
        line += "}\n"
        sink.write(Array(line.utf8))
    }

    static let fixedFields: Set<String> = ["ts", "level", "label", "message", "source", "error"]

    static func appendValue(_ value: Logger.Metadata.Value, to line: inout String) {
        switch value {
        case .string(let text): appendString(text, to: &line)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &line)
        case .array(let values):
            line += "["
            for (position, element) in values.enumerated() {
                if position > 0 { line += "," }
                appendValue(element, to: &line)
            }
            line += "]"
        case .dictionary(let dictionary):
            line += "{"
            for (position, key) in dictionary.keys.sorted().enumerated() {
                if position > 0 { line += "," }
                appendString(key, to: &line)
                line += ":"
                if let element = dictionary[key] { appendValue(element, to: &line) } else { line += "null" }
            }
            line += "}"
        }
    }

    /// Appends `text` as a JSON string literal (quotes, backslashes and control characters escaped).
    static func appendString(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    line.unicodeScalars.append(scalar)
                }
            }
        }
        line += "\""
    }

    /// UTC, RFC 3339 with milliseconds.
    static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2) + "."
            + pad(Int32(spec.tv_nsec / 1_000_000), 3) + "Z"
    }
}

private let stderrLock = Mutex(())

private func writeStandardError(_ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    write(2, bytes, count)
}
