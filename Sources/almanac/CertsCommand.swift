import AlmanacSecurity
import ArgumentParser
import Foundation

/// `almanac certs`: writes a cluster CA and node certificates for `serve --tls-*` (the files
/// `almanac dev` makes for itself), valid for loopback plus the hosts given per node. For test
/// clusters and benchmarks in other network namespaces; a production CA keeps its key elsewhere
/// (docs/security.md).
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Write a throwaway cluster CA and node certificates (PEM) for serve --tls-*.",
        discussion: """
            Example: almanac certs --dir /tmp/tls --nodes 1,2,3 --host 1=10.0.0.1 --host 2=10.0.0.2 --host 3=10.0.0.3
            Writes DIR/ca.pem, DIR/ca-key.pem, DIR/node<i>.pem and DIR/node<i>-key.pem (keys mode 0600). Each node
            certificate is valid for localhost, 127.0.0.1 and ::1, plus its --host names (IP addresses or DNS names).
            An existing DIR/ca.pem is kept unless --force. Exit codes: 0 ok, 1 cannot write, 2 usage.
            """)

    @Option(help: "Directory to write the files into (created if needed).")
    var dir: String

    @Option(help: "Comma-separated node ids.")
    var nodes: String = "1,2,3"

    @Option(help: "ID=HOST[,HOST...]: names node ID's certificate is also valid for (repeatable).")
    var host: [String] = []

    @Option(help: "The cluster's name, in the certificates' subjects.")
    var clusterName: String = "almanac"

    @Flag(help: "Replace an existing CA in --dir.")
    var force = false

    func parsedNodes() throws -> [UInt64] {
        let ids = nodes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var out: [UInt64] = []
        for id in ids {
            guard let value = UInt64(id), value > 0 else { throw ValidationError("--nodes: positive integers, comma-separated (got \"\(nodes)\")") }
            guard !out.contains(value) else { throw ValidationError("--nodes: node \(value) is listed twice") }
            out.append(value)
        }
        guard !out.isEmpty else { throw ValidationError("--nodes: name at least one node") }
        return out
    }

    func parsedHosts(nodes: [UInt64]) throws -> [UInt64: [CertificateHost]] {
        var out: [UInt64: [CertificateHost]] = [:]
        for item in host {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let id = UInt64(parts[0]) else {
                throw ValidationError("--host \"\(item)\": expected ID=HOST[,HOST...]")
            }
            guard nodes.contains(id) else { throw ValidationError("--host \"\(item)\": node \(id) is not in --nodes \(nodes.map(String.init).joined(separator: ","))") }
            for name in parts[1].split(separator: ",") {
                do {
                    out[id, default: []].append(try CertificateHost(parsing: String(name)))
                } catch {
                    throw ValidationError("--host \"\(item)\": \(error)")
                }
            }
        }
        return out
    }

    func validate() throws {
        _ = try parsedHosts(nodes: try parsedNodes())
        guard !dir.isEmpty else { throw ValidationError("--dir: name a directory") }
    }

    func run() throws {
        let ids = try parsedNodes()
        let hosts = try parsedHosts(nodes: ids)
        let layout = DevCertificates.Layout(directory: dir)
        if FileManager.default.fileExists(atPath: layout.certificateAuthority) && !force {
            FileHandle.standardError.write(Data("certs: \(layout.certificateAuthority) exists; pass --force to replace the CA\n".utf8))
            throw ExitCode(1)
        }
        do {
            try DevCertificates.generate(into: dir, clusterName: clusterName, nodes: ids, hosts: hosts)
        } catch {
            FileHandle.standardError.write(Data("certs: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print("certs: CA \(layout.certificateAuthority)")
        for id in ids {
            let files = layout.node(id)
            let names = ["localhost", "127.0.0.1", "::1"] + (hosts[id] ?? []).map(\.description)
            print("certs: node \(id) \(files.certificate) \(files.privateKey) (\(names.joined(separator: ", ")))")
        }
    }
}
