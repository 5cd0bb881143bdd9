/// Request validation shared by all operations. Every check here runs before any state changes.
enum Validation {
    /// A name for a directory entry: not empty, not "." or "..", no "/" or NUL, at most
    /// `limits.maxNameBytes` UTF-8 bytes.
    static func name(_ name: ByteString, limits: MetadataLimits) -> MetadataError? {
        let bytes = name.string.utf8
        if bytes.isEmpty { return MetadataError(.einval, "name is empty") }
        if bytes.count <= 2 && (name == "." || name == "..") { return MetadataError(.einval, "name \"\(name)\" is reserved") }
        // One pass over the bytes (names are kept contiguous), for both forbidden bytes.
        let (slash, nul) = bytes.withContiguousStorageIfAvailable(forbiddenBytes) ?? (bytes.contains(0x2F), bytes.contains(0))
        if slash { return MetadataError(.einval, "name \"\(printable(name))\" contains \"/\"") }
        if nul { return MetadataError(.einval, "name \"\(printable(name))\" contains NUL") }
        if bytes.count > limits.maxNameBytes {
            return MetadataError(
                .enametoolong, "name is \(bytes.count) bytes, longer than the limit of \(limits.maxNameBytes)")
        }
        return nil
    }

    /// Whether `buffer` holds a "/" and whether it holds a NUL, eight bytes at a time: a word has a
    /// zero byte exactly when `(w - 0x01...01) & ~w & 0x80...80` is not zero (and a "/" where
    /// `w ^ 0x2F...2F` has one).
    static func forbiddenBytes(_ buffer: UnsafeBufferPointer<UInt8>) -> (slash: Bool, nul: Bool) {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080, slashes: UInt64 = 0x2F2F_2F2F_2F2F_2F2F
        @inline(__always) func hasZeroByte(_ word: UInt64) -> Bool { (word &- ones) & ~word & highs != 0 }
        let raw = UnsafeRawBufferPointer(buffer)
        var slash = false, nul = false
        var offset = 0
        while offset + 8 <= raw.count {
            let word = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            slash = slash || hasZeroByte(word ^ slashes)
            nul = nul || hasZeroByte(word)
            offset += 8
        }
        while offset < raw.count {
            slash = slash || raw[offset] == 0x2F
            nul = nul || raw[offset] == 0
            offset += 1
        }
        return (slash, nul)
    }

    /// A symlink target: not empty, no NUL, at most `limits.maxSymlinkTargetBytes` bytes.
    static func symlinkTarget(_ target: ByteString, limits: MetadataLimits) -> MetadataError? {
        let bytes = target.string.utf8
        if bytes.isEmpty { return MetadataError(.enoent, "symlink target is empty") }
        if bytes.contains(0) { return MetadataError(.einval, "symlink target contains NUL") }
        if bytes.count > limits.maxSymlinkTargetBytes {
            return MetadataError(
                .enametoolong,
                "symlink target is \(bytes.count) bytes, longer than the limit of \(limits.maxSymlinkTargetBytes)")
        }
        return nil
    }

    /// A mode: permission bits, optionally with the type bits of `type` and nothing else.
    static func mode(_ mode: UInt32, for type: FileType) -> MetadataError? {
        let typeBits = mode & FileType.typeMask
        let other = mode & ~(FileType.typeMask | FileType.permissionMask)
        if other != 0 {
            return MetadataError(.einval, "mode 0o\(octal(mode)) has bits outside the type and 0o7777")
        }
        if typeBits != 0 && typeBits != type.typeBits {
            return MetadataError(
                .einval, "mode 0o\(octal(mode)) has type bits 0o\(octal(typeBits)), but the inode is a \(type)")
        }
        return nil
    }

    /// An owner id: `UInt32.max` is `(uid_t)-1`, which means "no change" in chown and is refused as a value.
    static func owner(_ id: UInt32, _ what: String) -> MetadataError? {
        id == UInt32.max ? MetadataError(.einval, "\(what) 4294967295 is reserved") : nil
    }

    static func octal(_ value: UInt32) -> String { String(value, radix: 8) }

    /// The name with control characters escaped, for messages.
    static func printable(_ name: ByteString) -> String {
        var out = ""
        for scalar in name.string.unicodeScalars.prefix(300) {
            if scalar.value < 0x20 { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }
}
