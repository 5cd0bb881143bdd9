// swift-tools-version:6.1
import PackageDescription

// A program of its own that uses the Almanac client library. It depends on this repository by
// path; another project would use `.package(url: "https://…/almanac.git", from: "…")` instead.
let package = Package(
    name: "client-sample",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Almanac", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "client-sample",
            dependencies: [.product(name: "AlmanacClient", package: "Almanac")]
        ),
    ]
)
