import AlmanacKeyspace
import Foundation

/// The stored form of a map: the JSON of ``ShardMap``'s Codable form (segment runs, shards).
/// Shared by the backends so that a record written by one reads the same in the other.
public enum ShardMapRecord {
    /// The JSON bytes of `map` (keys sorted, so equal maps give equal bytes).
    public static func encode(_ map: ShardMap) throws(ShardMapStoreError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return Array(try encoder.encode(map))
        } catch {
            throw .invalid("cannot encode the map: \(error)")
        }
    }

    /// The map in `bytes`, or ``ShardMapStoreError/malformed(_:)`` saying what is wrong with it.
    public static func decode(_ bytes: [UInt8], source: String) throws(ShardMapStoreError) -> ShardMap {
        do {
            return try JSONDecoder().decode(ShardMap.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw .malformed("\(source): \(describe(error))")
        } catch {
            throw .malformed("\(source): \(error)")
        }
    }

    /// A one-line account of a decoding error: where (the JSON path) and what.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
            return text.isEmpty ? "top level" : String(text.drop { $0 == "." })
        }
        switch error {
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty, context.underlyingError != nil || context.debugDescription.contains("valid JSON") {
                let detail = context.underlyingError.map { "\($0)" } ?? context.debugDescription
                return "not valid JSON (\(detail.prefix(200)))"
            }
            return "\(path(context.codingPath)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): missing field"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(type) (\(context.debugDescription))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(type), found null"
        @unknown default:
            return "\(error)"
        }
    }
}
