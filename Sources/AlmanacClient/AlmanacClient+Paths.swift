import AlmanacWire

/// Path helpers: absolute paths are resolved by successive lookups from the root. "." components are
/// dropped and ".." is resolved lexically (against the path's own components); symlinks are not followed.
extension AlmanacClient {
    /// Splits an absolute path into its normalized components.
    public nonisolated static func components(of path: String) throws(AlmanacClientError) -> [String] {
        guard path.hasPrefix("/") else { throw AlmanacClientError(.invalidArgument, code: .einval, "path \"\(path)\" is not absolute") }
        var result: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !result.isEmpty { result.removeLast() }
            default: result.append(String(part))
            }
        }
        return result
    }

    /// The attributes of the inode at `path`.
    public func resolve(_ path: String) async throws(AlmanacClientError) -> FileAttributes {
        var current = try await getattr(rootInode)
        for name in try Self.components(of: path) {
            current = try await lookup(parent: current.inode, name: name)
        }
        return current
    }

    /// The parent directory of `path` and the last component's name. The root has no parent.
    public func resolveParent(_ path: String) async throws(AlmanacClientError) -> (parent: FileAttributes, name: String) {
        var components = try Self.components(of: path)
        guard let name = components.popLast() else {
            throw AlmanacClientError(.invalidArgument, code: .einval, "\"\(path)\" names the root, which has no parent")
        }
        var current = try await getattr(rootInode)
        for component in components { current = try await lookup(parent: current.inode, name: component) }
        return (current, name)
    }

    public func mkdir(path: String, mode: UInt32 = 0o755) async throws(AlmanacClientError) -> FileAttributes {
        let (parent, name) = try await resolveParent(path)
        return try await mkdir(parent: parent.inode, name: name, mode: mode)
    }

    public func create(path: String, mode: UInt32 = 0o644, openExisting: Bool = false) async throws(AlmanacClientError) -> FileAttributes {
        let (parent, name) = try await resolveParent(path)
        return try await create(parent: parent.inode, name: name, mode: mode, openExisting: openExisting)
    }

    public func unlink(path: String) async throws(AlmanacClientError) {
        let (parent, name) = try await resolveParent(path)
        try await unlink(parent: parent.inode, name: name)
    }

    public func rmdir(path: String) async throws(AlmanacClientError) {
        let (parent, name) = try await resolveParent(path)
        try await rmdir(parent: parent.inode, name: name)
    }

    /// Renames `from` to `to`. If `to` is an existing directory, moves `from` into it (like mv).
    public func rename(from: String, to: String) async throws(AlmanacClientError) {
        let (sourceParent, sourceName) = try await resolveParent(from)
        var (targetParent, targetName) = try await resolveParent(to)
        if let existing = try? await lookup(parent: targetParent.inode, name: targetName), existing.type == .directory,
            existing.inode != (try? await lookup(parent: sourceParent.inode, name: sourceName))?.inode
        {
            targetParent = existing
            targetName = sourceName
        }
        try await rename(parent: sourceParent.inode, name: sourceName, newParent: targetParent.inode, newName: targetName)
    }
}

extension AlmanacClient {
    /// The last component of a path ("/" for the root).
    public nonisolated static func lastComponent(_ path: String) -> String {
        (try? components(of: path))?.last ?? "/"
    }
}
