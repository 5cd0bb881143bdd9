import Foundation

/// The subset of etcd's v3 JSON gateway (grpc-gateway over the etcdserverpb messages) that the
/// shard map store uses. Keys and values are base64; 64-bit integers travel as JSON strings;
/// fields holding their default value (0, false, empty) are left out of responses.
enum EtcdWire {
    /// An int64/uint64 field: a JSON string (the gateway's form) or a number.
    struct Int64Field: Codable, Sendable, Hashable {
        var value: Int64

        init(_ value: Int64) { self.value = value }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                guard let value = Int64(text) else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an integer")
                }
                self.value = value
            } else {
                self.value = try container.decode(Int64.self)
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(String(value))
        }
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    // MARK: Requests

    struct RangeRequest: Encodable {
        var key: String
        var count_only: Bool? = nil
    }

    struct PutRequest: Encodable {
        var key: String
        var value: String
    }

    struct Compare: Encodable {
        enum Target: String, Encodable { case VERSION, CREATE, MOD, VALUE }
        enum Result: String, Encodable { case EQUAL, GREATER, LESS, NOT_EQUAL }
        var key: String
        var target: Target
        var result: Result
        var create_revision: Int64Field? = nil
        var mod_revision: Int64Field? = nil
    }

    struct RequestOp: Encodable {
        var request_range: RangeRequest? = nil
        var request_put: PutRequest? = nil
    }

    struct TxnRequest: Encodable {
        var compare: [Compare]
        var success: [RequestOp]
        var failure: [RequestOp]
    }

    struct WatchCreateRequest: Encodable {
        var key: String
        var start_revision: Int64Field
        var progress_notify: Bool
    }

    struct WatchRequest: Encodable {
        var create_request: WatchCreateRequest
    }

    // MARK: Responses

    struct ResponseHeader: Decodable {
        var revision: Int64Field?
    }

    struct KeyValue: Decodable {
        var key: String?
        var create_revision: Int64Field?
        var mod_revision: Int64Field?
        var version: Int64Field?
        var value: String?
    }

    struct RangeResponse: Decodable {
        var header: ResponseHeader?
        var kvs: [KeyValue]?
    }

    struct ResponseOp: Decodable {
        var response_range: RangeResponse?
    }

    struct TxnResponse: Decodable {
        var header: ResponseHeader?
        var succeeded: Bool?
        var responses: [ResponseOp]?
    }

    struct Event: Decodable {
        /// "PUT" is the default and left out; "DELETE" is spelled.
        var type: String?
        var kv: KeyValue?
    }

    struct WatchResponse: Decodable {
        var header: ResponseHeader?
        var created: Bool?
        var canceled: Bool?
        var compact_revision: Int64Field?
        var cancel_reason: String?
        var events: [Event]?
    }

    /// One line of the streamed /v3/watch body: a result or a gateway error.
    struct WatchStreamMessage: Decodable {
        var result: WatchResponse?
        var error: GatewayError?
    }

    /// The gateway's error body (HTTP status >= 400, or a stream's error line). Unary calls put
    /// the text in `error` and `message`; streams nest an object: `{"error":{"grpc_code":14,"message":...}}`.
    struct GatewayError: Decodable {
        var error: String?
        var message: String?
        var code: Int?

        private struct Nested: Decodable {
            var message: String?
            var grpc_code: Int?
            var http_status: String?
        }

        private enum CodingKeys: String, CodingKey { case error, message, code, grpc_code }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            message = try? container.decodeIfPresent(String.self, forKey: .message)
            code = (try? container.decodeIfPresent(Int.self, forKey: .code)) ?? (try? container.decodeIfPresent(Int.self, forKey: .grpc_code))
            if let text = try? container.decodeIfPresent(String.self, forKey: .error) {
                error = text
            } else if let nested = try? container.decodeIfPresent(Nested.self, forKey: .error) {
                error = nested.message ?? nested.http_status
                message = message ?? nested.message
                code = code ?? nested.grpc_code
            }
        }

        var text: String { message ?? error ?? "code \(code ?? -1)" }
    }

    struct HealthResponse: Decodable {
        var health: String?
        var reason: String?
    }
}
