/// The entries of one directory: name -> child id, kept in byte order of the names.
///
/// Two parallel arrays sorted by name: the names, and each name's child and type. A lookup is a
/// binary search (no hash table: a second table per directory cost about 65 bytes per entry, issue
/// 17's memory goal), and the sorted order gives `readdir` its stable cursor ("entries after name
/// X"): inserts and deletes elsewhere in the directory never make a cursor skip or repeat an entry
/// that exists for the whole listing. Inserting costs O(n) element moves, fine for directories up
/// to ~10^5 entries; a B-tree can replace the arrays later without changing the interface.
struct DirectoryEntries: Hashable, Sendable {
    /// One entry: the child and its type, kept with the entry because the child's own record may
    /// live in a segment of another shard (a subdirectory), and rmdir, rename and readdir need its
    /// type without asking.
    struct Entry: Hashable, Sendable {
        var child: InodeID
        var type: FileType
    }

    private(set) var sortedNames: [ByteString] = []
    /// `sortedEntries[i]` is the entry of `sortedNames[i]`.
    private(set) var sortedEntries: [Entry] = []

    init() {}

    var count: Int { sortedNames.count }
    var isEmpty: Bool { sortedNames.isEmpty }

    subscript(name: ByteString) -> InodeID? { entry(name)?.child }

    /// The child and type of entry `name`, in one search.
    func entry(_ name: ByteString) -> Entry? {
        let index = firstIndex(notBelow: name)
        guard index < sortedNames.count, sortedNames[index] == name else { return nil }
        return sortedEntries[index]
    }

    /// The type of the child `name`.
    func type(of name: ByteString) -> FileType? { entry(name)?.type }

    /// Number of entries that are directories (a directory's nlink is 2 plus this).
    var subdirectoryCount: Int { sortedEntries.reduce(0) { $0 + ($1.type == .directory ? 1 : 0) } }

    /// Every entry with its name, in name order.
    var namedEntries: Zip2Sequence<[ByteString], [Entry]> { zip(sortedNames, sortedEntries) }

    /// Adds or replaces the entry `name`.
    mutating func set(_ name: ByteString, to child: InodeID, type: FileType) {
        let index = firstIndex(notBelow: name)
        if index < sortedNames.count, sortedNames[index] == name {
            sortedEntries[index] = Entry(child: child, type: type)
        } else {
            sortedNames.insert(name, at: index)
            sortedEntries.insert(Entry(child: child, type: type), at: index)
        }
    }

    /// Removes the entry `name`; returns the child it named.
    @discardableResult
    mutating func remove(_ name: ByteString) -> InodeID? {
        let index = firstIndex(notBelow: name)
        guard index < sortedNames.count, sortedNames[index] == name else { return nil }
        sortedNames.remove(at: index)
        return sortedEntries.remove(at: index).child
    }

    /// Up to `limit` entries whose names sort strictly after `cursor` (all if `cursor` is nil).
    func page(after cursor: ByteString?, limit: Int) -> ArraySlice<ByteString> {
        let start = cursor.map { firstIndex(above: $0) } ?? 0
        let available = sortedNames.count - start
        let end = start + min(available, max(0, limit))
        return sortedNames[start..<end]
    }

    /// Whether an entry sorts after `name`.
    func hasEntries(after name: ByteString) -> Bool { firstIndex(above: name) < sortedNames.count }

    /// Builds the map from names already in strictly ascending order (snapshot restore).
    /// Returns nil if the names are not strictly ascending.
    static func fromSorted(_ pairs: [(ByteString, InodeID, FileType)]) -> DirectoryEntries? {
        var entries = DirectoryEntries()
        entries.sortedNames.reserveCapacity(pairs.count)
        entries.sortedEntries.reserveCapacity(pairs.count)
        for (name, child, type) in pairs {
            if let last = entries.sortedNames.last, !(last < name) { return nil }
            entries.sortedNames.append(name)
            entries.sortedEntries.append(Entry(child: child, type: type))
        }
        return entries
    }

    /// Index of the first name >= `name`.
    private func firstIndex(notBelow name: ByteString) -> Int {
        var low = 0
        var high = sortedNames.count
        while low < high {
            let mid = (low + high) / 2
            if sortedNames[mid] < name { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Index of the first name > `name`.
    private func firstIndex(above name: ByteString) -> Int {
        var low = 0
        var high = sortedNames.count
        while low < high {
            let mid = (low + high) / 2
            if name < sortedNames[mid] { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
