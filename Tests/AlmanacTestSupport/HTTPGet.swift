import Foundation
import NIOCore
import NIOPosix

/// A minimal HTTP/1.1 client for tests: one request per connection (`Connection: close`), reads the
/// whole answer until the server closes.
public struct HTTPAnswer: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: String
}

public struct HTTPGetError: Error, CustomStringConvertible {
    public var description: String
}

public func httpRequest(host: String, port: Int, path: String, method: String = "GET") async throws -> HTTPAnswer {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    var received: [UInt8] = []
    try await channel.executeThenClose { inbound, outbound in
        try await outbound.write(ByteBuffer(string: "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"))
        for try await buffer in inbound { received += buffer.readableBytesView }
    }
    let text = String(decoding: received, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw HTTPGetError(description: "no header end in: \(text)") }
    let lines = text[..<split.lowerBound].split(separator: "\r\n")
    guard let statusLine = lines.first, statusLine.split(separator: " ").count >= 2,
          let status = Int(statusLine.split(separator: " ")[1]) else {
        throw HTTPGetError(description: "bad status line in: \(text)")
    }
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return HTTPAnswer(status: status, headers: headers, body: String(text[split.upperBound...]))
}
