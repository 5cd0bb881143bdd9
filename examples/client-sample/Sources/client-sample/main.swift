import AlmanacClient
import Foundation

// Connects to a running cluster (`almanac dev` prints the endpoints), makes a directory, creates a
// file in it and lists it. Endpoints: the first argument or $ALMANAC_ENDPOINTS, comma-separated.
// TLS: $ALMANAC_CA names the cluster CA's PEM file (`almanac dev` prints it); unset: plaintext.
// Access token: $ALMANAC_TOKEN (`almanac dev` prints one), for clusters that check tokens.
let endpointList = CommandLine.arguments.dropFirst().first
    ?? ProcessInfo.processInfo.environment["ALMANAC_ENDPOINTS"]
    ?? "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
let endpoints = endpointList.split(separator: ",").map(String.init)

var configuration = AlmanacClientConfiguration(endpoints: endpoints)
if let ca = ProcessInfo.processInfo.environment["ALMANAC_CA"], !ca.isEmpty {
    do {
        configuration.tls = try AlmanacClientConfiguration.tlsContext(trusting: ca)
    } catch {
        print("error: cannot use the CA certificate \(ca): \(error)")
        exit(1)
    }
}
configuration.authToken = ProcessInfo.processInfo.environment["ALMANAC_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
let client = AlmanacClient(configuration: configuration)
do {
    let directory = "/client-sample-\(Int(Date().timeIntervalSince1970))-\(ProcessInfo.processInfo.processIdentifier)"
    let made = try await client.mkdir(path: directory)
    print("mkdir \(directory) -> inode \(made.inode)")
    let file = try await client.create(path: "\(directory)/hello.txt")
    print("create \(directory)/hello.txt -> inode \(file.inode)")
    print("ls \(directory):")
    for try await entry in client.readdir(made.inode) {
        print("  \(entry.name)")
    }
    await client.shutdown()
} catch {
    print("error: \(error)")
    await client.shutdown()
    exit(1)
}
