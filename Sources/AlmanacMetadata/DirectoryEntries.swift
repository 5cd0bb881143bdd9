/// The entries of one directory: name -> child id, kept in byte order of the names.
///
/// The entries are a list of chunks (`DirectoryEntryChunk`) of consecutive names, each at most
/// `chunkCapacity` entries: its names' bytes back to back in one buffer and a sorted array of
/// 16-byte slots (child, type, where the name's bytes are). A lookup is a binary search over the
/// chunks' first names, then one inside a chunk. A name costs its bytes and its slot, not a string
/// allocation and a hash-table bucket (issue 17's memory goal: about 40 bytes for an entry with a
/// 24-byte name, where a `String` per name, a name array and a hash table cost about 160). The
/// sorted order gives `readdir` its stable cursor ("entries after name X"): inserts and deletes
/// elsewhere in the directory never make a cursor skip or repeat an entry that exists for the
/// whole listing. Inserting a name moves at most one chunk's slots (16 KiB), whatever the
/// directory's size, and a write while a checkpoint holds a copy of the state copies one chunk and
/// the list of chunks, not the directory (one sorted array per directory made every create in a
/// directory of n names move n/2 slots: with 64 directories of 70k names, half of a node's CPU).
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

    /// Entries per chunk before it splits in two.
    static let defaultChunkCapacity = 1024

    private var chunks: [DirectoryEntryChunk] = []
    /// The position (in name order over the whole directory) of each chunk's first entry.
    private var starts: [Int] = []
    private(set) var count = 0
    /// Entries a chunk may hold; one more splits it.
    private let chunkCapacity: Int

    init() { chunkCapacity = Self.defaultChunkCapacity }

    /// Entries in chunks of at most `chunkCapacity` (at least 2), for tests that want many chunks.
    init(chunkCapacity: Int) { self.chunkCapacity = max(2, chunkCapacity) }

    var isEmpty: Bool { count == 0 }

    subscript(name: ByteString) -> InodeID? { entry(name)?.child }

    /// The child and type of entry `name`, in one search.
    func entry(_ name: ByteString) -> Entry? {
        guard !chunks.isEmpty else { return nil }
        return DirectoryEntryChunk.withBytes(name) { bytes in
            let chunk = chunkIndex(for: bytes)
            let (index, found) = chunks[chunk].search(bytes)
            return found ? chunks[chunk].entry(at: index) : nil
        }
    }

    /// The type of the child `name`.
    func type(of name: ByteString) -> FileType? { entry(name)?.type }

    /// Number of entries that are directories (a directory's nlink is 2 plus this).
    var subdirectoryCount: Int { chunks.reduce(0) { $0 + $1.subdirectoryCount } }

    /// Every entry with its name, in name order (each name is made when it is read).
    var namedEntries: Page { Page(entries: self, range: 0..<count) }

    /// The entry at `index` in name order.
    func entry(at index: Int) -> Entry {
        let chunk = chunkIndex(containing: index)
        return chunks[chunk].entry(at: index - starts[chunk])
    }

    /// The name of the entry at `index` in name order.
    func name(at index: Int) -> ByteString {
        ByteString(String(decoding: nameBytes(at: index), as: UTF8.self))
    }

    /// The UTF-8 bytes of the name of the entry at `index`, without making a name.
    func nameBytes(at index: Int) -> ArraySlice<UInt8> {
        let chunk = chunkIndex(containing: index)
        return chunks[chunk].nameBytes(at: index - starts[chunk])
    }

    /// Calls `body` with every entry's name bytes and entry, in name order (one pass over the
    /// chunks, no search per entry: snapshots and checks).
    func forEachEntry<Failure: Error>(_ body: (ArraySlice<UInt8>, Entry) throws(Failure) -> Void) throws(Failure) {
        for chunk in chunks {
            for index in 0..<chunk.count { try body(chunk.nameBytes(at: index), chunk.entry(at: index)) }
        }
    }

    /// Adds or replaces the entry `name`. Names are at most `UInt16.max` bytes (the state machine
    /// refuses names over 255 bytes: ENAMETOOLONG).
    mutating func set(_ name: ByteString, to child: InodeID, type: FileType) {
        if chunks.isEmpty {
            chunks = [DirectoryEntryChunk()]
            starts = [0]
        }
        let (chunk, index, found) = place(of: name)
        if found {
            chunks[chunk].replace(at: index, child: child, type: type)
            return
        }
        chunks[chunk].insert(name, child: child, type: type, at: index)
        count += 1
        for later in (chunk + 1)..<starts.count { starts[later] += 1 }
        if chunks[chunk].count > chunkCapacity {
            let upper = chunks[chunk].splitUpperHalf()
            chunks.insert(upper, at: chunk + 1)
            starts.insert(starts[chunk] + chunks[chunk].count, at: chunk + 1)
        }
    }

    /// Removes the entry `name`; returns the child it named.
    @discardableResult
    mutating func remove(_ name: ByteString) -> InodeID? {
        guard !chunks.isEmpty else { return nil }
        let (chunk, index, found) = place(of: name)
        guard found else { return nil }
        let child = chunks[chunk].remove(at: index)
        count -= 1
        for later in (chunk + 1)..<starts.count { starts[later] -= 1 }
        if chunks[chunk].isEmpty {
            chunks.remove(at: chunk)
            starts.remove(at: chunk)
        } else if chunk + 1 < chunks.count, chunks[chunk].count + chunks[chunk + 1].count <= chunkCapacity / 2 {
            // Two small neighbours become one, so that deletions leave no trail of tiny chunks.
            let next = chunks.remove(at: chunk + 1)
            starts.remove(at: chunk + 1)
            chunks[chunk].absorb(next)
        }
        return child
    }

    /// Up to `limit` entries whose names sort strictly after `cursor` (all if `cursor` is nil).
    func page(after cursor: ByteString?, limit: Int) -> Page {
        let start = cursor.map { firstIndex(above: $0) } ?? 0
        let end = start + min(count - start, max(0, limit))
        return Page(entries: self, range: start..<end)
    }

    /// Whether an entry sorts after `name`.
    func hasEntries(after name: ByteString) -> Bool { firstIndex(above: name) < count }

    /// Builds the map from names already in strictly ascending order (snapshot restore), in
    /// chunks half full. Returns nil if the names are not strictly ascending.
    static func fromSorted(_ pairs: [(ByteString, InodeID, FileType)]) -> DirectoryEntries? {
        var entries = DirectoryEntries()
        let fill = max(1, entries.chunkCapacity / 2)
        var previous: ByteString?
        var position = 0
        while position < pairs.count {
            let run = pairs[position..<min(pairs.count, position + fill)]
            var chunk = DirectoryEntryChunk()
            chunk.reserve(entries: run.count, nameBytes: run.reduce(0) { $0 + $1.0.byteCount })
            for (name, child, type) in run {
                if let previous, !(previous < name) { return nil }
                previous = name
                chunk.append(nameBytes: name.string.utf8, child: child, type: type)
            }
            entries.starts.append(position)
            entries.chunks.append(chunk)
            position += run.count
        }
        entries.count = pairs.count
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

    /// The chunk where the name `bytes` is or would go: the last one whose first name is <= it
    /// (the first chunk for a name before every other). The directory has at least one chunk.
    private func chunkIndex(for bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var low = 1
        var high = chunks.count
        // Invariant: chunks[..<low] start at or before the name; chunks[high...] start after it.
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid].sortsBeforeFirst(bytes) { high = mid } else { low = mid + 1 }
        }
        return low - 1
    }

    /// The chunk where `name` is or would go, its index there, and whether it is there (the name
    /// opened once for both searches). The directory has at least one chunk.
    private func place(of name: ByteString) -> (chunk: Int, index: Int, found: Bool) {
        DirectoryEntryChunk.withBytes(name) { bytes in
            let chunk = chunkIndex(for: bytes)
            let (index, found) = chunks[chunk].search(bytes)
            return (chunk, index, found)
        }
    }

    /// The chunk holding the entry at position `index` (0..<count).
    private func chunkIndex(containing index: Int) -> Int {
        var low = 0
        var high = starts.count
        while low + 1 < high {
            let mid = (low + high) / 2
            if starts[mid] <= index { low = mid } else { high = mid }
        }
        return low
    }

    /// Position of the first name > `name`.
    private func firstIndex(above name: ByteString) -> Int {
        guard !chunks.isEmpty else { return 0 }
        return DirectoryEntryChunk.withBytes(name) { bytes in
            let chunk = chunkIndex(for: bytes)
            return starts[chunk] + chunks[chunk].firstIndex(above: bytes)
        }
    }
}

/// Equal when they hold the same names with the same children and types, however the names are
/// laid out (chunk boundaries, removed names and compactions do not count).
extension DirectoryEntries: Hashable {
    static func == (lhs: DirectoryEntries, rhs: DirectoryEntries) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var left: [(ArraySlice<UInt8>, Entry)] = []
        left.reserveCapacity(lhs.count)
        lhs.forEachEntry { left.append(($0, $1)) }
        var index = 0
        var equal = true
        rhs.forEachEntry { bytes, entry in
            if equal, left[index].1 != entry || !left[index].0.elementsEqual(bytes) { equal = false }
            index += 1
        }
        return equal
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        forEachEntry { bytes, entry in
            hasher.combine(entry.child)
            hasher.combine(entry.type)
            hasher.combine(bytes.count)
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}
