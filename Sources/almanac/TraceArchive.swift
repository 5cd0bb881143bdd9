import ArgumentParser
import Foundation

/// An `strace -ff -tt` trace on disk: a directory of `PREFIX.<pid>` files or a .tar.gz of one
/// (extracted with `tar` into a temporary directory). Used by `predict-eval ops` and `replay`.
enum TraceArchive {
    /// The processes' texts, by pid. Clear errors for a missing, truncated or unreadable archive.
    static func load(_ path: String) throws -> [(pid: UInt32, text: String)] {
        var dir = path
        var cleanup: String?
        if path.hasSuffix(".tar.gz") || path.hasSuffix(".tgz") {
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path): no such file") }
            let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-trace-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["tar", "xzf", path, "-C", tmp]
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                try? FileManager.default.removeItem(atPath: tmp)
                throw ValidationError("\(path): the archive is truncated or not a .tar.gz (tar exited with \(p.terminationStatus))")
            }
            dir = tmp
            cleanup = tmp
        }
        defer { if let c = cleanup { try? FileManager.default.removeItem(atPath: c) } }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("\(path): not a directory or .tar.gz")
        }
        var out: [(UInt32, String)] = []
        guard let walker = FileManager.default.enumerator(atPath: dir) else { return [] }
        for case let rel as String in walker {
            let full = dir + "/" + rel
            var d: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &d), !d.boolValue,
                  let dot = rel.lastIndex(of: "."), let pid = UInt32(rel[rel.index(after: dot)...]) else { continue }
            guard let data = FileManager.default.contents(atPath: full) else { throw ValidationError("cannot read \(rel) in \(path)") }
            out.append((pid, String(decoding: data, as: UTF8.self)))
        }
        return out
    }
}
