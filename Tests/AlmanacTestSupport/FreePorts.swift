import Foundation
import Synchronization

/// Loopback ports for the processes and hosts under test to bind: below the kernel's ephemeral
/// range (so that no outgoing connection of any test takes one between the check and the bind),
/// chosen at random, checked bindable, and never handed out twice in one test process (suites run
/// in parallel). A small race with other programs binding the same port remains.
public enum FreePorts {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private static let handedOut = Mutex(Set<Int>())

    /// The first port of the kernel's ephemeral range (32768 when it cannot be read).
    static var ephemeralStart: Int {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
              let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap({ Int($0) })
        else { return 32768 }
        return first
    }

    public static func loopback(count: Int) throws -> [Int] {
        let upper = max(11_000, ephemeralStart - 1)
        var ports: [Int] = []
        var tries = 0
        while ports.count < count {
            tries += 1
            guard tries < 10_000 else { throw Failure(description: "no free loopback port found below \(upper)") }
            let port = Int.random(in: 10_000...upper)
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            guard fresh else { continue }
            if bindable(port) { ports.append(port) }
        }
        return ports
    }

    /// A base port such that every `base + offset` is free and handed out to nobody else in this
    /// process (`almanac dev --base-port` lays its ports out from one base); all of them are
    /// recorded as handed out, so no other test's cluster is given one of them.
    public static func block(offsets: [Int]) throws -> Int {
        let upper = max(11_000, ephemeralStart - 1) - (offsets.max() ?? 0)
        for _ in 0..<1_000 {
            let base = Int.random(in: 10_000...upper)
            let ports = offsets.map { base + $0 }
            let fresh = handedOut.withLock { taken in
                guard ports.allSatisfy({ !taken.contains($0) }) else { return false }
                taken.formUnion(ports)
                return true
            }
            guard fresh else { continue }
            if ports.allSatisfy({ bindable($0, reuseAddress: true) }) { return base }
        }
        throw Failure(description: "no free block of loopback ports found below \(upper)")
    }

    /// Whether 127.0.0.1:`port` can be bound right now. With `reuseAddress` (SO_REUSEADDR, as the
    /// nodes' listeners bind), connections lingering in TIME_WAIT do not count, a listener does.
    public static func bindable(_ port: Int, reuseAddress: Bool = false) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if reuseAddress {
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
