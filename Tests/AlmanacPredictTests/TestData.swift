import Foundation

/// Locates ../shared/data relative to the package root (found by walking up from this file).
enum TestData {
    static func root(filePath: String = #filePath) -> URL? {
        var dir = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                return dir.deletingLastPathComponent().appendingPathComponent("shared/data")
            }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// Text of a data file, or nil when absent (the test then skips).
    static func text(_ relative: String) -> String? {
        guard let url = root()?.appendingPathComponent(relative) else { return nil }
        return try? String(contentsOf: url, encoding: .utf8)
    }
}
