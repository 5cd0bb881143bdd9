/// A run of consecutive entries of one directory, in byte order of their names: the names' bytes
/// back to back in one buffer, and a sorted array of 16-byte slots (child, type, where the name's
/// bytes are) searched by binary search. `DirectoryEntries` keeps a directory as a list of these,
/// each at most a thousand or so entries, so that inserting a name moves a few kilobytes of slots
/// instead of half the directory's, and a write while a checkpoint holds a copy of the state copies
/// one chunk instead of the whole directory (docs/metadata.md, "Directories").
struct DirectoryEntryChunk: Sendable {
    /// Every name's bytes, back to back (with the bytes of removed names until a compaction).
    private var names: [UInt8] = []
    /// Sorted by name.
    private var slots: [DirectoryEntries.Slot] = []
    /// Bytes in `names` that no slot refers to.
    private var garbage = 0

    init() {}

    var count: Int { slots.count }
    var isEmpty: Bool { slots.isEmpty }

    /// The child and type of the entry at `index`.
    func entry(at index: Int) -> DirectoryEntries.Entry {
        DirectoryEntries.Entry(child: slots[index].child, type: slots[index].type)
    }

    /// The UTF-8 bytes of the name of the entry at `index`.
    func nameBytes(at index: Int) -> ArraySlice<UInt8> {
        let slot = slots[index]
        return names[slot.offset..<slot.offset + Int(slot.length)]
    }

    /// Number of entries that are directories.
    var subdirectoryCount: Int { slots.reduce(0) { $0 + ($1.type == .directory ? 1 : 0) } }

    /// Sets the child and type of the entry at `index` (its name stays).
    mutating func replace(at index: Int, child: InodeID, type: FileType) {
        slots[index].child = child
        slots[index].type = type
    }

    /// Inserts a new entry at `index` (the place `search` reported for its name).
    mutating func insert(_ name: ByteString, child: InodeID, type: FileType, at index: Int) {
        let slot = DirectoryEntries.Slot(child: child, offset: names.count, length: name.byteCount, type: type)
        names.append(contentsOf: name.string.utf8)
        slots.insert(slot, at: index)
    }

    /// Appends an entry whose name sorts after every name here (restores and merges).
    mutating func append(nameBytes: some Collection<UInt8>, child: InodeID, type: FileType) {
        slots.append(DirectoryEntries.Slot(child: child, offset: names.count, length: nameBytes.count, type: type))
        names.append(contentsOf: nameBytes)
    }

    /// Removes the entry at `index` and returns its child.
    mutating func remove(at index: Int) -> InodeID {
        let slot = slots.remove(at: index)
        garbage += Int(slot.length)
        if slots.isEmpty {
            names.removeAll()
            garbage = 0
        } else if garbage > 64 && garbage * 2 > names.count {
            compact()
        }
        return slot.child
    }

    /// Moves the upper half of the entries into a new chunk, which it returns; both halves keep
    /// only their own names' bytes.
    mutating func splitUpperHalf() -> DirectoryEntryChunk {
        let middle = slots.count / 2
        var upper = DirectoryEntryChunk()
        upper.reserve(entries: slots.count - middle, nameBytes: (middle..<slots.count).reduce(0) { $0 + Int(slots[$1].length) })
        for index in middle..<slots.count { upper.append(nameBytes: nameBytes(at: index), child: slots[index].child, type: slots[index].type) }
        slots = Array(slots[..<middle])  // a new array, sized to the half it keeps
        compact()
        return upper
    }

    /// Appends every entry of `other`, whose names all sort after this chunk's.
    mutating func absorb(_ other: DirectoryEntryChunk) {
        reserve(entries: slots.count + other.count, nameBytes: names.count + other.names.count)
        for index in 0..<other.count { append(nameBytes: other.nameBytes(at: index), child: other.slots[index].child, type: other.slots[index].type) }
    }

    mutating func reserve(entries: Int, nameBytes: Int) {
        slots.reserveCapacity(entries)
        names.reserveCapacity(nameBytes)
    }

    /// Rewrites `names` with only the live names, in slot order.
    private mutating func compact() {
        var packed: [UInt8] = []
        packed.reserveCapacity(names.count - garbage)
        for index in slots.indices {
            let start = slots[index].offset
            slots[index].offset = packed.count
            packed.append(contentsOf: names[start..<start + Int(slots[index].length)])
        }
        names = packed
        garbage = 0
    }

    // MARK: - Search

    /// Byte-wise three-way comparison of `name` with the name of the entry at `index`, whose
    /// bytes are in `arena` (the buffer `names`, opened once per search).
    private func compare(_ name: UnsafeBufferPointer<UInt8>, _ index: Int, in arena: UnsafeBufferPointer<UInt8>) -> Int {
        let slot = slots[index]
        let start = slot.offset
        let length = Int(slot.length)
        let common = min(name.count, length)
        var position = 0
        while position < common {
            let a = name[position]
            let b = arena[start + position]
            if a != b { return a < b ? -1 : 1 }
            position += 1
        }
        return name.count - length
    }

    /// Calls `body` with `name`'s UTF-8 bytes, contiguous (a native string's own storage; a
    /// copy otherwise). `DirectoryEntries` opens a name once per operation and searches the
    /// chunks with the bytes.
    static func withBytes<T>(_ name: ByteString, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        if let result = name.string.utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(name.string.utf8).withUnsafeBufferPointer(body)
    }

    /// Whether the name `bytes` sorts before this chunk's first name (false for an empty chunk).
    func sortsBeforeFirst(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !slots.isEmpty else { return false }
        return names.withUnsafeBufferPointer { arena in compare(bytes, 0, in: arena) < 0 }
    }

    /// Index of the first name >= the name `bytes`, and whether it is that name.
    func search(_ bytes: UnsafeBufferPointer<UInt8>) -> (index: Int, found: Bool) {
        names.withUnsafeBufferPointer { arena in
            var low = 0
            var high = slots.count
            while low < high {
                let mid = (low + high) / 2
                if compare(bytes, mid, in: arena) > 0 { low = mid + 1 } else { high = mid }
            }
            return (low, low < slots.count && compare(bytes, low, in: arena) == 0)
        }
    }

    /// Index of the first name > the name `bytes`.
    func firstIndex(above bytes: UnsafeBufferPointer<UInt8>) -> Int {
        names.withUnsafeBufferPointer { arena in
            var low = 0
            var high = slots.count
            while low < high {
                let mid = (low + high) / 2
                if compare(bytes, mid, in: arena) < 0 { high = mid } else { low = mid + 1 }
            }
            return low
        }
    }
}
