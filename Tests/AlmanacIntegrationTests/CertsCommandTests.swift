import AlmanacSecurity
import AlmanacTestSupport
import Foundation
import SwiftASN1
import Testing
import X509

/// `almanac certs` (the real binary): a CA and node certificates valid for the hosts given, and
/// typed refusals of bad input.
@Suite("almanac certs", .serialized, .timeLimit(.minutes(1)))
struct CertsCommandTests {
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let binary = try TestCluster.locateBinary()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("certs-\(UUID().uuidString.prefix(8)).log").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let process = try ZoneRequirementTests.run(binary, ["certs"] + arguments, output: output)
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        return (process.terminationStatus, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    static func names(_ path: String) throws -> (dns: [String], ips: [[UInt8]], issuer: DistinguishedName) {
        let certificate = try Certificate(pemEncoded: try String(contentsOfFile: path, encoding: .utf8))
        var dns: [String] = []
        var ips: [[UInt8]] = []
        for name in try certificate.extensions.subjectAlternativeNames ?? SubjectAlternativeNames([]) {
            switch name {
            case .dnsName(let value): dns.append(value)
            case .ipAddress(let bytes): ips.append(Array(bytes.bytes))
            default: break
            }
        }
        return (dns, ips, certificate.issuer)
    }

    @Test("node certificates carry loopback and each node's own hosts, signed by the CA; keys are private")
    func certificatesCarryTheHostsGiven() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-certs-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await Self.run(["--dir", directory, "--nodes", "1,2,3",
                                         "--host", "1=10.1.2.3,Node1.Example", "--host", "2=fd00::7"])
        #expect(result.status == 0, "\(result.output)")
        let ca = try Certificate(pemEncoded: try String(contentsOfFile: "\(directory)/ca.pem", encoding: .utf8))
        let one = try Self.names("\(directory)/node1.pem")
        #expect(one.issuer == ca.subject)
        #expect(Set(one.dns) == ["localhost", "node1.example"])
        #expect(one.ips.contains([10, 1, 2, 3]) && one.ips.contains([127, 0, 0, 1]))
        let two = try Self.names("\(directory)/node2.pem")
        #expect(two.ips.contains([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]))
        #expect(!two.ips.contains([10, 1, 2, 3]), "node 2 got node 1's address")
        let three = try Self.names("\(directory)/node3.pem")
        #expect(three.dns == ["localhost"] && three.ips.count == 2)
        for path in ["ca-key.pem", "node1-key.pem", "node3-key.pem"] {
            let mode = try FileManager.default.attributesOfItem(atPath: "\(directory)/\(path)")[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(path): \(String(describing: mode))")
        }
        #expect(result.output.contains("node 1") && result.output.contains("10.1.2.3"), "\(result.output)")

        // An existing CA is kept unless --force.
        let again = try await Self.run(["--dir", directory, "--nodes", "1"])
        #expect(again.status == 1 && again.output.contains("pass --force"), "\(again.output)")
        let forced = try await Self.run(["--dir", directory, "--nodes", "1", "--force"])
        #expect(forced.status == 0, "\(forced.output)")
        let replaced = try Certificate(pemEncoded: try String(contentsOfFile: "\(directory)/ca.pem", encoding: .utf8))
        #expect(replaced.serialNumber != ca.serialNumber)
    }

    @Test("bad hosts, unknown nodes and bad node lists are usage errors with a message")
    func badInputIsRefused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("almanac-certs-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (arguments, message) in [
            (["--host", "1=bad_name!"], "is neither an IP address nor a DNS name"),
            (["--host", "4=10.0.0.4"], "node 4 is not in --nodes"),
            (["--host", "10.0.0.1"], "expected ID=HOST"),
            (["--nodes", "1,x"], "positive integers"),
            (["--nodes", "2,2"], "listed twice"),
            (["--host", "1=-leading.example"], "is neither an IP address nor a DNS name"),
        ] {
            let result = try await Self.run(["--dir", directory] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.output)")
            #expect(result.output.contains(message), "\(arguments): \(result.output)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/ca.pem"), "a refused run wrote files")
        // Parsing on its own.
        #expect(try CertificateHost(parsing: "192.168.0.1") == .ip([192, 168, 0, 1]))
        #expect(try CertificateHost(parsing: "*.zone-a.example").description == "*.zone-a.example")
        #expect(try CertificateHost(parsing: "::1").description == "::1")
        #expect(throws: SecurityError.self) { try CertificateHost(parsing: "") }
        #expect(throws: SecurityError.self) { try CertificateHost(parsing: "a..b") }
    }
}
