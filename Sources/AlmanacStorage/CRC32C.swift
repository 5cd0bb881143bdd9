/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven slicing-by-8.
///
/// `CRC32C.checksum(Array("123456789".utf8)) == 0xE3069283` (the standard check value).
public enum CRC32C {
    /// Eight 256-entry tables: `tables[k][b]` is the CRC of byte `b` followed by `k` zero bytes.
    private static let tables: [[UInt32]] = {
        let polynomial: UInt32 = 0x82F6_3B78
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ polynomial : crc >> 1
            }
            tables[0][byte] = crc
        }
        for byte in 0..<256 {
            var crc = tables[0][byte]
            for k in 1..<8 {
                crc = tables[0][Int(crc & 0xFF)] ^ (crc >> 8)
                tables[k][byte] = crc
            }
        }
        return tables
    }()

    /// The CRC-32C of `bytes`.
    public static func checksum<Bytes: Collection>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        update(0, bytes)
    }

    /// Continues a CRC-32C: `update(checksum(a), b) == checksum(a + b)`.
    public static func update<Bytes: Collection>(_ crc: UInt32, _ bytes: Bytes) -> UInt32
    where Bytes.Element == UInt8 {
        if let result = bytes.withContiguousStorageIfAvailable({ update(crc, buffer: UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { update(crc, buffer: $0) }
    }

    /// Continues a CRC-32C over raw memory.
    public static func update(_ crc: UInt32, buffer: UnsafeRawBufferPointer) -> UInt32 {
        var crc = ~crc
        let count = buffer.count
        var position = 0
        tables.withUnsafeBufferPointer { t in
            let t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3], t4 = t[4], t5 = t[5], t6 = t[6], t7 = t[7]
            t0.withUnsafeBufferPointer { t0 in t1.withUnsafeBufferPointer { t1 in
            t2.withUnsafeBufferPointer { t2 in t3.withUnsafeBufferPointer { t3 in
            t4.withUnsafeBufferPointer { t4 in t5.withUnsafeBufferPointer { t5 in
            t6.withUnsafeBufferPointer { t6 in t7.withUnsafeBufferPointer { t7 in
                while count - position >= 8 {
                    let low = UInt32(buffer[position]) | UInt32(buffer[position + 1]) << 8
                        | UInt32(buffer[position + 2]) << 16 | UInt32(buffer[position + 3]) << 24
                    let one = low ^ crc
                    crc = t7[Int(one & 0xFF)] ^ t6[Int((one >> 8) & 0xFF)]
                        ^ t5[Int((one >> 16) & 0xFF)] ^ t4[Int(one >> 24)]
                        ^ t3[Int(buffer[position + 4])] ^ t2[Int(buffer[position + 5])]
                        ^ t1[Int(buffer[position + 6])] ^ t0[Int(buffer[position + 7])]
                    position += 8
                }
                while position < count {
                    crc = t0[Int((crc ^ UInt32(buffer[position])) & 0xFF)] ^ (crc >> 8)
                    position += 1
                }
            }}}}}}}}
        }
        return ~crc
    }
}
