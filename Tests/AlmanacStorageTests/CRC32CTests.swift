import Testing
@testable import AlmanacStorage

@Suite struct CRC32CTests {
    @Test func standardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func knownVectors() {
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720 (iSCSI) test vectors.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    }

    @Test func slicingMatchesBytewiseAndIsIncremental() {
        var random = SplitMix64(seed: 42)
        let data = (0..<1000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        func bytewise(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            }
            return ~crc
        }
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 999, 1000] {
            #expect(CRC32C.checksum(data[0..<length]) == bytewise(data[0..<length]), "length \(length)")
        }
        for split in [0, 3, 8, 500, 1000] {
            #expect(CRC32C.update(CRC32C.checksum(data[0..<split]), data[split...]) == CRC32C.checksum(data))
        }
    }
}
