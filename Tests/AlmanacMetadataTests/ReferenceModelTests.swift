import Testing
@testable import AlmanacMetadata

/// An independent, deliberately naive model of the namespace: a dictionary from absolute path
/// to a node number, plus node attributes. Renaming a directory rewrites every path under it.
struct ReferenceModel {
    enum Kind: Equatable { case file, dir, symlink }
    struct Node: Equatable {
        var kind: Kind
        var mode: UInt32
        var size: UInt64
    }

    var paths: [String: Int] = ["/": 0]
    var nodes: [Int: Node] = [0: Node(kind: .dir, mode: 0o755, size: 0)]
    var nextNode = 1
    /// Open handles: handle number -> node. Handle numbers count up from 1 per successful open.
    var handles: [UInt64: Int] = [:]
    var nextHandle: UInt64 = 1

    static func join(_ parent: String, _ name: String) -> String { parent == "/" ? "/" + name : parent + "/" + name }

    func kind(_ path: String) -> Kind? { paths[path].flatMap { nodes[$0]?.kind } }

    func isUnder(_ path: String, _ ancestor: String) -> Bool { path == ancestor || path.hasPrefix(ancestor + "/") }

    func children(_ dir: String) -> [String] {
        paths.keys.filter { $0 != "/" && Self.parent(of: $0) == dir }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "/" }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    func nlink(_ path: String) -> UInt32 {
        guard let node = paths[path], let kind = kind(path) else { return 0 }
        if kind == .dir { return 2 + UInt32(children(path).filter { self.kind($0) == .dir }.count) }
        return UInt32(paths.values.filter { $0 == node }.count)
    }

    /// Resolves an absolute path of a directory-or-not, as successive lookups would.
    func resolve(_ path: String) -> ErrorCode? {
        var current = "/"
        for component in path.split(separator: "/") {
            guard kind(current) == .dir else { return .enotdir }
            current = Self.join(current, String(component))
            guard paths[current] != nil else { return .enoent }
        }
        return nil
    }

    static func nameError(_ name: String) -> ErrorCode? {
        if name.isEmpty || name == "." || name == ".." || name.contains("/") || name.utf8.contains(0) { return .einval }
        return name.utf8.count > 255 ? .enametoolong : nil
    }

    static func modeError(_ mode: UInt32, _ kind: Kind) -> ErrorCode? {
        if mode & ~0o177777 != 0 { return .einval }
        let typeBits = mode & 0o170000
        let own: UInt32 = kind == .dir ? 0o040000 : kind == .file ? 0o100000 : 0o120000
        return typeBits != 0 && typeBits != own ? .einval : nil
    }

    private mutating func add(_ path: String, _ node: Node) {
        paths[path] = nextNode
        nodes[nextNode] = node
        nextNode += 1
    }

    private mutating func removePath(_ path: String) {
        guard let node = paths.removeValue(forKey: path) else { return }
        forgetIfUnreferenced(node)
    }

    /// A node with no names and no open handles is gone.
    private mutating func forgetIfUnreferenced(_ node: Int) {
        if !paths.values.contains(node) && !handles.values.contains(node) { nodes.removeValue(forKey: node) }
    }

    /// `open`; returns the handle number on success.
    mutating func open(parent: String, name: String, flags: OpenFlags, mode: UInt32) -> (UInt64?, ErrorCode?) {
        if let error = Self.nameError(name) { return (nil, error) }
        if flags.exclusive && !flags.create { return (nil, .einval) }
        if flags.truncate && flags.access == .readOnly { return (nil, .einval) }
        if flags.create, let error = Self.modeError(mode, .file) { return (nil, error) }
        if kind(parent) != .dir { return (nil, .enotdir) }
        let path = Self.join(parent, name)
        if let node = paths[path], let existing = nodes[node] {
            if flags.create && flags.exclusive { return (nil, .eexist) }
            switch existing.kind {
            case .symlink: return (nil, .eloop)
            case .dir: if flags.access != .readOnly || flags.truncate || flags.create { return (nil, .eisdir) }
            case .file: if flags.truncate { nodes[node]?.size = 0 }
            }
        } else {
            if !flags.create { return (nil, .enoent) }
            add(path, Node(kind: .file, mode: mode & 0o7777, size: 0))
        }
        guard let node = paths[path] else { return (nil, .enoent) }
        let handle = nextHandle
        nextHandle += 1
        handles[handle] = node
        return (handle, nil)
    }

    mutating func close(_ handle: UInt64) -> ErrorCode? {
        guard let node = handles.removeValue(forKey: handle) else { return .ebadf }
        forgetIfUnreferenced(node)
        return nil
    }

    mutating func make(_ kind: Kind, parent: String, name: String, mode: UInt32, target: String = "") -> ErrorCode? {
        if let error = Self.nameError(name) { return error }
        if kind != .symlink, let error = Self.modeError(mode, kind) { return error }
        if self.kind(parent) != .dir { return .enotdir }
        let path = Self.join(parent, name)
        if paths[path] != nil { return .eexist }
        add(path, Node(kind: kind, mode: kind == .symlink ? 0o777 : mode & 0o7777, size: UInt64(target.utf8.count)))
        return nil
    }

    mutating func unlink(parent: String, name: String) -> ErrorCode? {
        if let error = Self.nameError(name) { return error }
        if kind(parent) != .dir { return .enotdir }
        let path = Self.join(parent, name)
        guard let kind = kind(path) else { return .enoent }
        if kind == .dir { return .eisdir }
        removePath(path)
        return nil
    }

    mutating func rmdir(parent: String, name: String) -> ErrorCode? {
        if let error = Self.nameError(name) { return error }
        if kind(parent) != .dir { return .enotdir }
        let path = Self.join(parent, name)
        guard let kind = kind(path) else { return .enoent }
        if kind != .dir { return .enotdir }
        if !children(path).isEmpty { return .enotempty }
        removePath(path)
        return nil
    }

    mutating func link(target: String, parent: String, name: String) -> ErrorCode? {
        if let error = Self.nameError(name) { return error }
        if kind(parent) != .dir { return .enotdir }
        let path = Self.join(parent, name)
        if paths[path] != nil { return .eexist }
        guard let node = paths[target] else { return .enoent }
        if kind(target) == .dir { return .eperm }
        paths[path] = node
        return nil
    }

    mutating func rename(fromParent: String, fromName: String, toParent: String, toName: String) -> ErrorCode? {
        if let error = Self.nameError(fromName) ?? Self.nameError(toName) { return error }
        if kind(fromParent) != .dir || kind(toParent) != .dir { return .enotdir }
        let source = Self.join(fromParent, fromName)
        let destination = Self.join(toParent, toName)
        guard let sourceKind = kind(source) else { return .enoent }
        if paths[destination] == paths[source] { return nil }
        if sourceKind == .dir && isUnder(toParent, source) { return .eloop }
        if let destinationKind = kind(destination) {
            if sourceKind == .dir && destinationKind != .dir { return .enotdir }
            if sourceKind != .dir && destinationKind == .dir { return .eisdir }
            if destinationKind == .dir && !children(destination).isEmpty { return .enotempty }
            removePath(destination)
        }
        var moved: [String: Int] = [:]
        for (path, node) in paths {
            if isUnder(path, source) {
                moved[destination + path.dropFirst(source.count)] = node
            } else {
                moved[path] = node
            }
        }
        paths = moved
        return nil
    }

    mutating func setattr(_ path: String, mode: UInt32?, size: UInt64?) -> ErrorCode? {
        guard let id = paths[path], var node = nodes[id] else { return .enoent }
        if mode == nil && size == nil { return nil }
        if let mode, let error = Self.modeError(mode, node.kind) { return error }
        if size != nil {
            if node.kind == .dir { return .eisdir }
            if node.kind == .symlink { return .einval }
        }
        if let mode { node.mode = mode & 0o7777 }
        if let size { node.size = size }
        nodes[id] = node
        return nil
    }
}

@Suite("Reference model")
struct ReferenceModelTests {
    /// Resolves a path in the state machine with lookups, as a client would.
    static func resolve(_ path: String, in machine: MetadataStateMachine) -> (id: InodeID?, error: ErrorCode?) {
        var current = InodeID.root
        for component in path.split(separator: "/") {
            do {
                current = try machine.lookup(parent: current, name: ByteString(String(component))).id
            } catch {
                return (nil, error.code)
            }
        }
        return (current, nil)
    }

    /// Compares the whole tree of the state machine with the model.
    static func compareTrees(_ machine: MetadataStateMachine, _ model: ReferenceModel, step: Int) {
        var actual: [String: (InodeAttributes)] = [:]
        func walk(_ dir: InodeID, _ path: String) {
            var cursor: ReaddirCursor?
            repeat {
                guard let page = try? machine.readdir(dir, after: cursor, limit: 3) else {
                    Issue.record("readdir of \(path) failed at step \(step)")
                    return
                }
                for entry in page.entries {
                    let childPath = ReferenceModel.join(path, entry.name.string)
                    guard let attributes = try? machine.getattr(entry.id) else {
                        Issue.record("entry \(childPath) has no inode at step \(step)")
                        continue
                    }
                    #expect(attributes.type == entry.type)
                    actual[childPath] = attributes
                    if entry.type == .directory { walk(entry.id, childPath) }
                }
                cursor = page.nextCursor
            } while cursor != nil
        }
        if let root = try? machine.getattr(.root) { actual["/"] = root }
        walk(.root, "/")
        #expect(Set(actual.keys) == Set(model.paths.keys), "paths differ at step \(step)")
        var identity: [Int: InodeID] = [:]
        for (path, node) in model.paths {
            guard let attributes = actual[path], let expected = model.nodes[node] else { continue }
            let kind: ReferenceModel.Kind = attributes.type == .directory ? .dir : attributes.type == .regular ? .file : .symlink
            #expect(kind == expected.kind, "\(path) type at step \(step)")
            #expect(attributes.mode == expected.mode, "\(path) mode at step \(step)")
            #expect(attributes.size == expected.size, "\(path) size at step \(step)")
            #expect(attributes.nlink == model.nlink(path), "\(path) nlink at step \(step)")
            if let known = identity[node] {
                #expect(known == attributes.id, "hard links of one node map to different inodes at step \(step)")
            }
            identity[node] = attributes.id
        }
        #expect(Set(identity.values).count == identity.count, "two model nodes map to one inode at step \(step)")
        #expect(machine.inodeCount == model.nodes.count, "inode count (orphans included) at step \(step)")
        #expect(machine.openHandleCount == model.handles.count, "open handles at step \(step)")
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func randomOperationsMatchTheModel(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var h = Harness()
        var model = ReferenceModel()
        let pool = ["a", "b", "c"]
        let badNames = ["", ".", "..", "a/b", "x\u{0}", String(repeating: "L", count: 256)]
        func randomPath(_ rng: inout SeededGenerator) -> String {
            let depth = Int.random(in: 0...2, using: &rng)
            return "/" + (0..<depth).map { _ in pool[Int.random(in: 0..<pool.count, using: &rng)] }.joined(separator: "/")
        }
        func randomName(_ rng: inout SeededGenerator) -> String {
            Int.random(in: 0..<100, using: &rng) < 4
                ? badNames[Int.random(in: 0..<badNames.count, using: &rng)]
                : pool[Int.random(in: 0..<pool.count, using: &rng)]
        }
        var applied = 0
        var succeeded = 0
        var codes: [ErrorCode: Int] = [:]
        for step in 0..<4_000 {
            let kind = Int.random(in: 0..<100, using: &rng)
            let parentPath = randomPath(&rng)
            let otherPath = randomPath(&rng)
            let name = randomName(&rng)
            let otherName = randomName(&rng)
            let mode: UInt32 = Int.random(in: 0..<100, using: &rng) < 5 ? 0o100755 : [0o755, 0o644, 0o700][Int.random(in: 0..<3, using: &rng)]
            // Resolve the path arguments in both; they must agree, and only then is the operation sent.
            let resolvedParent = Self.resolve(parentPath, in: h.machine)
            #expect(resolvedParent.error == model.resolve(parentPath), "resolve \(parentPath) at step \(step)")
            let resolvedOther = Self.resolve(otherPath, in: h.machine)
            #expect(resolvedOther.error == model.resolve(otherPath), "resolve \(otherPath) at step \(step)")
            guard let parent = resolvedParent.id, let other = resolvedOther.id else { continue }

            let operation: MetadataOperation
            let expected: ErrorCode?
            var expectedHandle: UInt64?
            switch kind {
            case 0..<18:
                operation = .mkdir(parent: parent, name: ByteString(name), mode: mode, uid: 0, gid: 0)
                expected = model.make(.dir, parent: parentPath, name: name, mode: mode)
            case 18..<36:
                operation = .create(parent: parent, name: ByteString(name), mode: mode, uid: 0, gid: 0)
                expected = model.make(.file, parent: parentPath, name: name, mode: mode)
            case 36..<41:
                operation = .symlink(parent: parent, name: ByteString(name), target: "t/x", uid: 0, gid: 0)
                expected = model.make(.symlink, parent: parentPath, name: name, mode: 0, target: "t/x")
            case 41..<50:
                operation = .unlink(parent: parent, name: ByteString(name))
                expected = model.unlink(parent: parentPath, name: name)
            case 50..<59:
                operation = .rmdir(parent: parent, name: ByteString(name))
                expected = model.rmdir(parent: parentPath, name: name)
            case 59..<66:
                operation = .link(target: other, parent: parent, name: ByteString(name))
                expected = model.link(target: otherPath, parent: parentPath, name: name)
            case 66..<88:
                operation = .rename(fromParent: parent, fromName: ByteString(name), toParent: other, toName: ByteString(otherName))
                expected = model.rename(fromParent: parentPath, fromName: name, toParent: otherPath, toName: otherName)
            case 90..<95:
                let flags = OpenFlags(
                    access: [.readOnly, .writeOnly, .readWrite][Int.random(in: 0..<3, using: &rng)],
                    create: Int.random(in: 0..<2, using: &rng) == 0, exclusive: Int.random(in: 0..<5, using: &rng) == 0,
                    truncate: Int.random(in: 0..<5, using: &rng) == 0)
                operation = .open(parent: parent, name: ByteString(name), flags: flags, mode: mode, uid: 0, gid: 0)
                let (handle, error) = model.open(parent: parentPath, name: name, flags: flags, mode: mode)
                expected = error
                if let handle { expectedHandle = handle }
            case 95..<98:
                let open = model.handles.keys.sorted()
                let handle = open.isEmpty || Int.random(in: 0..<10, using: &rng) == 0
                    ? 99_999 : open[Int.random(in: 0..<open.count, using: &rng)]
                operation = .close(handle: handle)
                expected = model.close(handle)
            default:
                let newMode: UInt32? = Int.random(in: 0..<2, using: &rng) == 0 ? mode : nil
                let size: UInt64? = Int.random(in: 0..<2, using: &rng) == 0 ? UInt64.random(in: 0...9999, using: &rng) : nil
                operation = .setattr(id: parent, changes: SetAttributes(mode: newMode, size: size))
                expected = model.setattr(parentPath, mode: newMode, size: size)
            }
            let before = h.machine
            let result = h.run(operation)
            applied += 1
            #expect(result.errorCode == expected, "step \(step): \(operation) gave \(result), model expected \(String(describing: expected))")
            if let expectedHandle {
                guard case .success(.opened(let handle, _, _)) = result, handle == expectedHandle else {
                    Issue.record("step \(step): open gave \(result), model expected handle \(expectedHandle)")
                    continue
                }
            }
            if let code = result.errorCode {
                codes[code, default: 0] += 1
                #expect(h.machine.namespaceEquals(before), "failed \(operation.name) changed state at step \(step)")
            } else {
                succeeded += 1
            }
            if step % 25 == 0 { Self.compareTrees(h.machine, model, step: step) }
        }
        Self.compareTrees(h.machine, model, step: 4_000)
        #expect(applied > 2_000 && succeeded > 300, "applied \(applied), succeeded \(succeeded)")
        for code in [ErrorCode.eexist, .enoent, .enotdir, .eisdir, .enotempty, .einval, .eperm, .enametoolong, .eloop, .ebadf] {
            #expect(codes[code, default: 0] > 0, "the workload never produced \(code): \(codes)")
        }
    }
}
