// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Relayout",
    products: [
        .library(name: "Relayout", targets: ["Relayout"]),
        .executable(name: "relayout", targets: ["RelayoutCLI"]),
    ],
    dependencies: [
        // The CLI's flag parsing, help and errors; the library itself depends on nothing.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // SIMD register transposes and non-temporal stores, which Swift cannot express; portable C
        // (clang vector extensions) with a plain-store fallback off x86.
        .target(name: "CRelayoutKernels"),
        // libnuma: placement of storages on nodes and page-placement queries (Debian's libnuma-dev).
        .systemLibrary(name: "CNUMA", pkgConfig: "numa", providers: [.apt(["libnuma-dev"])]),
        .target(name: "Relayout", dependencies: ["CRelayoutKernels", "CNUMA"]),
        .executableTarget(
            name: "RelayoutCLI",
            dependencies: [
                "Relayout",
                // For the bench's hidden switch to the kernels of a CPU without VBMI.
                "CRelayoutKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "RelayoutTests", dependencies: ["Relayout", "RelayoutCLI"]),
    ]
)
