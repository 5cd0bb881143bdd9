import AlmanacClient
import AlmanacServer
import AlmanacWire

/// The authorizer's namespace reads through the node's own client (admin token, linearizable reads
/// at each shard's leader; docs/security.md).
struct ClientNamespaceProbe: NamespaceProbe {
    let client: AlmanacClient

    func parent(of inode: UInt64) async throws(APIError) -> UInt64? {
        do {
            let attributes = try await client.getattr(inode)
            return attributes.type == .directory ? attributes.parent : nil
        } catch {
            if error.code == .enoent { return nil }
            throw APIError(error.code == .ok ? .unavailable : error.code, error.message)
        }
    }

    func entry(_ directory: UInt64, _ name: String) async throws(APIError) -> UInt64? {
        do {
            return try await client.entry(parent: directory, name: name).inode
        } catch {
            if error.code == .enoent || error.code == .enotdir { return nil }
            throw APIError(error.code == .ok ? .unavailable : error.code, error.message)
        }
    }
}
