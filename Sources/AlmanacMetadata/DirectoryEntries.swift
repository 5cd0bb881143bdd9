/// The entries of one directory: name -> child id, kept in byte order of the names.
///
/// The names' bytes live back to back in one buffer per directory; a sorted array of 16-byte slots
/// (child, type, where the name's bytes are) is searched by binary search. A name costs its bytes
/// and its slot, not a string allocation and a hash-table bucket (issue 17's memory goal: about
/// 40 bytes for an entry with a 24-byte name, where a `String` per name, a name array and a hash
/// table cost about 160). The sorted order gives `readdir` its stable cursor ("entries after name
/// X"): inserts and deletes elsewhere in the directory never make a cursor skip or repeat an entry
/// that exists for the whole listing. Inserting costs O(n) moves of 16-byte slots, fine for
/// directories up to ~10^6 entries; removed names leave their bytes until they are half the
/// buffer, then the buffer is compacted.
struct DirectoryEntries: Sendable {
    /// One entry: the child and its type, kept with the entry because the child's own record may
    /// live in a segment of another shard (a subdirectory), and rmdir, rename and readdir need its
    /// type without asking.
    struct Entry: Hashable, Sendable {
        var child: InodeID
        var type: FileType
    }

    /// One entry's place: its child and type, and its name's bytes in `names` (16 bytes; the
    /// offset has 40 bits, a terabyte of names, more than a directory can hold in memory).
    struct Slot: Sendable {
        var child: InodeID
        private var offsetLow: UInt32
        var length: UInt16
        var type: FileType
        private var offsetHigh: UInt8

        init(child: InodeID, offset: Int, length: Int, type: FileType) {
            self.child = child
            self.offsetLow = UInt32(truncatingIfNeeded: offset)
            self.offsetHigh = UInt8(truncatingIfNeeded: offset >> 32)
            self.length = UInt16(truncatingIfNeeded: length)
            self.type = type
        }

        var offset: Int {
            get { Int(offsetHigh) << 32 | Int(offsetLow) }
            set {
                offsetLow = UInt32(truncatingIfNeeded: newValue)
                offsetHigh = UInt8(truncatingIfNeeded: newValue >> 32)
            }
        }
    }

    /// Every name's bytes, back to back (with the bytes of removed names until a compaction).
    private var names: [UInt8] = []
    /// Sorted by name.
    private var slots: [Slot] = []
    /// Bytes in `names` that no slot refers to.
    private var garbage = 0

    init() {}

    var count: Int { slots.count }
    var isEmpty: Bool { slots.isEmpty }

    subscript(name: ByteString) -> InodeID? { entry(name)?.child }

    /// The child and type of entry `name`, in one search.
    func entry(_ name: ByteString) -> Entry? {
        let (index, found) = search(name)
        guard found else { return nil }
        return Entry(child: slots[index].child, type: slots[index].type)
    }

    /// The type of the child `name`.
    func type(of name: ByteString) -> FileType? { entry(name)?.type }

    /// Number of entries that are directories (a directory's nlink is 2 plus this).
    var subdirectoryCount: Int { slots.reduce(0) { $0 + ($1.type == .directory ? 1 : 0) } }

    /// Every entry with its name, in name order (each name is made when it is read).
    var namedEntries: Page { Page(entries: self, range: 0..<slots.count) }

    /// The entry at `index` in name order.
    func entry(at index: Int) -> Entry { Entry(child: slots[index].child, type: slots[index].type) }

    /// The name of the entry at `index` in name order.
    func name(at index: Int) -> ByteString {
        ByteString(String(decoding: nameBytes(at: index), as: UTF8.self))
    }

    /// The UTF-8 bytes of the name of the entry at `index`, without making a name.
    func nameBytes(at index: Int) -> ArraySlice<UInt8> {
        let slot = slots[index]
        return names[slot.offset..<slot.offset + Int(slot.length)]
    }

    /// Adds or replaces the entry `name`. Names are at most `UInt16.max` bytes (the state machine
    /// refuses names over 255 bytes: ENAMETOOLONG).
    mutating func set(_ name: ByteString, to child: InodeID, type: FileType) {
        let (index, found) = search(name)
        if found {
            slots[index].child = child
            slots[index].type = type
            return
        }
        let slot = Slot(child: child, offset: names.count, length: name.byteCount, type: type)
        names.append(contentsOf: name.string.utf8)
        slots.insert(slot, at: index)
    }

    /// Removes the entry `name`; returns the child it named.
    @discardableResult
    mutating func remove(_ name: ByteString) -> InodeID? {
        let (index, found) = search(name)
        guard found else { return nil }
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

    /// Up to `limit` entries whose names sort strictly after `cursor` (all if `cursor` is nil).
    func page(after cursor: ByteString?, limit: Int) -> Page {
        let start = cursor.map { firstIndex(above: $0) } ?? 0
        let end = start + min(slots.count - start, max(0, limit))
        return Page(entries: self, range: start..<end)
    }

    /// Whether an entry sorts after `name`.
    func hasEntries(after name: ByteString) -> Bool { firstIndex(above: name) < slots.count }

    /// Builds the map from names already in strictly ascending order (snapshot restore).
    /// Returns nil if the names are not strictly ascending.
    static func fromSorted(_ pairs: [(ByteString, InodeID, FileType)]) -> DirectoryEntries? {
        var entries = DirectoryEntries()
        entries.slots.reserveCapacity(pairs.count)
        entries.names.reserveCapacity(pairs.reduce(0) { $0 + $1.0.byteCount })
        var previous: ByteString?
        for (name, child, type) in pairs {
            if let previous, !(previous < name) { return nil }
            previous = name
            entries.slots.append(Slot(child: child, offset: entries.names.count, length: name.byteCount, type: type))
            entries.names.append(contentsOf: name.string.utf8)
        }
        return entries
    }

    /// Entries of a directory in name order, their names made as they are read.
    struct Page: RandomAccessCollection, Sendable {
        fileprivate let entries: DirectoryEntries
        fileprivate let range: Range<Int>
        var startIndex: Int { range.lowerBound }
        var endIndex: Int { range.upperBound }
        subscript(position: Int) -> (name: ByteString, entry: Entry) {
            (entries.name(at: position), entries.entry(at: position))
        }
    }

    // MARK: - Inside

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

    /// Calls `body` with `name`'s UTF-8 bytes, contiguous, and the names buffer.
    private func withBytes<T>(_ name: ByteString, _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> T) -> T {
        names.withUnsafeBufferPointer { arena in
            if let result = name.string.utf8.withContiguousStorageIfAvailable({ body($0, arena) }) { return result }
            return Array(name.string.utf8).withUnsafeBufferPointer { body($0, arena) }
        }
    }

    /// Index of the first name >= `name`, and whether it is `name`.
    private func search(_ name: ByteString) -> (index: Int, found: Bool) {
        withBytes(name) { bytes, arena in
            var low = 0
            var high = slots.count
            while low < high {
                let mid = (low + high) / 2
                if compare(bytes, mid, in: arena) > 0 { low = mid + 1 } else { high = mid }
            }
            return (low, low < slots.count && compare(bytes, low, in: arena) == 0)
        }
    }

    /// Index of the first name > `name`.
    private func firstIndex(above name: ByteString) -> Int {
        withBytes(name) { bytes, arena in
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

/// Equal when they hold the same names with the same children and types, however the name bytes
/// are laid out (removed names and compactions do not count).
extension DirectoryEntries: Hashable {
    static func == (lhs: DirectoryEntries, rhs: DirectoryEntries) -> Bool {
        guard lhs.slots.count == rhs.slots.count else { return false }
        for index in lhs.slots.indices {
            let (a, b) = (lhs.slots[index], rhs.slots[index])
            guard a.child == b.child, a.type == b.type, a.length == b.length,
                  lhs.nameBytes(at: index).elementsEqual(rhs.nameBytes(at: index))
            else { return false }
        }
        return true
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(slots.count)
        for index in slots.indices {
            hasher.combine(slots[index].child)
            hasher.combine(slots[index].type)
            nameBytes(at: index).withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}
