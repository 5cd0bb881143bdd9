import AlmanacKeyspace

/// One etcd client endpoint (a member's `--advertise-client-urls` host and port).
public struct EtcdEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with IPv6 literals in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The base URL of the member's HTTP gateway.
    var baseURL: String { "http://\(description)" }
}

/// Where and how an ``EtcdShardMapStore`` keeps one cluster's map.
public struct EtcdShardMapStoreConfiguration: Sendable {
    /// The etcd members to talk to; calls start at the last endpoint that answered and fail over
    /// to the next one on connection errors and timeouts.
    public var endpoints: [EtcdEndpoint]
    /// The Almanac cluster whose map this is; the map lives at `<keyPrefix>/<clusterID>/shardmap`.
    public var clusterID: String
    /// Prefix of every key this store uses (no trailing slash).
    public var keyPrefix: String
    /// Bound of one attempt on one endpoint (connect, request, response). A call tries each
    /// endpoint at most once, so it is bounded by `endpoints.count * attemptTimeout`.
    public var attemptTimeout: Duration
    /// If set, `compareAndSwap` refuses (``ShardMapStoreError/invalid(_:)``) a map whose replicas
    /// name nodes that are not in this membership or not in their zone (``ShardMap/validate(knownNodes:)``).
    public var knownNodes: [NodeID: ZoneName]?
    /// First and largest pause between watch reconnections (after every endpoint failed once).
    public var reconnectBackoff: (initial: Duration, maximum: Duration)
    /// How often a watch checks, with a quorum read, that the member streaming to it still answers.
    public var watchLivenessInterval: Duration

    public init(
        endpoints: [EtcdEndpoint], clusterID: String, keyPrefix: String = "/almanac",
        attemptTimeout: Duration = .seconds(1), knownNodes: [NodeID: ZoneName]? = nil,
        reconnectBackoff: (initial: Duration, maximum: Duration) = (.milliseconds(50), .seconds(1)),
        watchLivenessInterval: Duration = .seconds(5)
    ) {
        self.endpoints = endpoints
        self.clusterID = clusterID
        self.keyPrefix = keyPrefix
        self.attemptTimeout = attemptTimeout
        self.knownNodes = knownNodes
        self.reconnectBackoff = reconnectBackoff
        self.watchLivenessInterval = watchLivenessInterval
    }

    /// A configuration from `etcd://host:port,host:port,...[/key-prefix]`.
    public init(url: String, clusterID: String, attemptTimeout: Duration = .seconds(1),
                knownNodes: [NodeID: ZoneName]? = nil) throws(ShardMapStoreError) {
        let parsed = try Self.parse(url: url)
        self.init(endpoints: parsed.endpoints, clusterID: clusterID, keyPrefix: parsed.keyPrefix ?? "/almanac",
                  attemptTimeout: attemptTimeout, knownNodes: knownNodes)
    }

    /// The key holding the map's JSON.
    public var mapKey: String { "\(keyPrefix)/\(clusterID)/shardmap" }

    /// The key of a control record, beside the map's.
    public func recordKey(_ name: ControlRecordName) -> String { "\(keyPrefix)/\(clusterID)/\(name.rawValue)" }

    /// Checks the values a URL parser cannot (cluster id, prefix, timeouts).
    func validated() throws(ShardMapStoreError) -> EtcdShardMapStoreConfiguration {
        guard !endpoints.isEmpty else { throw .configuration("no etcd endpoints") }
        for endpoint in endpoints {
            guard !endpoint.host.isEmpty else { throw .configuration("etcd endpoint with an empty host") }
            guard (1...65535).contains(endpoint.port) else { throw .configuration("etcd endpoint \(endpoint.host) has port \(endpoint.port), outside 1...65535") }
        }
        guard !clusterID.isEmpty, !clusterID.contains("/") else {
            throw .configuration("cluster id '\(clusterID)' must be non-empty and contain no '/'")
        }
        guard keyPrefix.hasPrefix("/"), !keyPrefix.hasSuffix("/") || keyPrefix == "/" else {
            throw .configuration("key prefix '\(keyPrefix)' must start with '/' and not end with '/'")
        }
        guard attemptTimeout > .zero else { throw .configuration("attempt timeout must be positive") }
        guard watchLivenessInterval > .zero, reconnectBackoff.initial > .zero, reconnectBackoff.maximum >= reconnectBackoff.initial else {
            throw .configuration("watch liveness interval and reconnect backoff must be positive (initial <= maximum)")
        }
        var copy = self
        if copy.keyPrefix == "/" { copy.keyPrefix = "" }
        return copy
    }

    /// Parses `etcd://host:port,host:port,...` with an optional `/key/prefix` path.
    ///
    /// Hosts are names, IPv4 addresses or bracketed IPv6 literals (`[::1]:2379`); every endpoint
    /// needs an explicit port. Throws ``ShardMapStoreError/configuration(_:)`` for a wrong scheme,
    /// an empty list, a missing host or port, or a port that is not a number in 1...65535.
    public static func parse(url: String) throws(ShardMapStoreError) -> (endpoints: [EtcdEndpoint], keyPrefix: String?) {
        let scheme = "etcd://"
        guard let schemeEnd = url.range(of: "://") else {
            throw .configuration("'\(url)' is not a URL; expected etcd://host:port,host:port,...")
        }
        guard url.lowercased().hasPrefix(scheme) else {
            throw .configuration("unknown scheme '\(url[..<schemeEnd.lowerBound])' in '\(url)'; expected etcd://host:port,...")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        var keyPrefix: String?
        if let slash = rest.firstIndex(of: "/") {
            let path = String(rest[slash...])
            rest = rest[..<slash]
            var trimmed = path
            while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
            if trimmed != "/" { keyPrefix = trimmed }
        }
        if rest.contains("?") || rest.contains("#") || rest.contains("@") {
            throw .configuration("'\(url)': etcd URLs take no user, query or fragment")
        }
        let items = rest.split(separator: ",", omittingEmptySubsequences: false)
        guard !items.allSatisfy({ $0.trimmingSpaces.isEmpty }) else {
            throw .configuration("'\(url)' lists no endpoints; expected etcd://host:port,host:port,...")
        }
        var endpoints: [EtcdEndpoint] = []
        for raw in items {
            let item = raw.trimmingSpaces
            guard !item.isEmpty else { throw .configuration("'\(url)' has an empty endpoint in its list") }
            let host: Substring
            let portText: Substring?
            if item.hasPrefix("[") {
                guard let close = item.firstIndex(of: "]") else { throw .configuration("endpoint '\(item)': unclosed '['") }
                host = item[item.index(after: item.startIndex)..<close]
                let after = item[item.index(after: close)...]
                if after.isEmpty {
                    portText = nil
                } else if after.hasPrefix(":") {
                    portText = after.dropFirst()
                } else {
                    throw .configuration("endpoint '\(item)': expected ':port' after ']'")
                }
            } else if let colon = item.lastIndex(of: ":") {
                host = item[..<colon]
                portText = item[item.index(after: colon)...]
                guard !host.contains(":") else {
                    throw .configuration("endpoint '\(item)': write IPv6 addresses in brackets, e.g. [::1]:2379")
                }
            } else {
                host = item
                portText = nil
            }
            guard !host.isEmpty else { throw .configuration("endpoint '\(item)' has no host") }
            guard let portText, !portText.isEmpty else { throw .configuration("endpoint '\(item)' has no port (etcd://host:port)") }
            guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (1...65535).contains(port) else {
                throw .configuration("endpoint '\(item)' has port '\(portText)', not a number in 1...65535")
            }
            endpoints.append(EtcdEndpoint(host: String(host), port: port))
        }
        return (endpoints, keyPrefix)
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
