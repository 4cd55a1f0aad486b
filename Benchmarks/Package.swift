// swift-tools-version: 6.1
// The performance regression suite: its own package, so package-benchmark (and what it pulls in)
// stays out of the library's dependency graph. Run from this folder: `./check` or
// `swift package benchmark`.
import Foundation
import PackageDescription

// The root package is this folder's parent; a path dependency's identity is its folder's name.
let rootIdentity = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "RelayoutBenchmarks",
    dependencies: [
        .package(path: ".."),
        // Allocation counts (the malloc interposer) and custom metrics with stored thresholds.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RelayoutBenchmarks",
            dependencies: [
                .product(name: "Relayout", package: rootIdentity),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/RelayoutBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
