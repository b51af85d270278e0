// swift-tools-version:6.0
// mugs — Mugs self-supervised ViT pretraining on CPUs (oneDNN or OpenBLAS), coordinator + workers over ZeroMQ.
// Module boundaries: docs/ARCHITECTURE.md. Each area appends its targets in its own section below.
import PackageDescription

/// Hot numeric code is compiled for the build machine's CPU in release builds (≈4× on vector loops here).
/// The replica update path (AdamW, clipping, EMA) is written without FMAs or reassociation, so its bits do
/// not depend on the CPU; see docs/ARCHITECTURE.md.
let native: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=native"], .when(configuration: .release))]
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

var targets: [Target] = []
var products: [Product] = []

// MARK: system libraries (Debian: libopenblas-dev, libzmq3-dev)
targets += [
    .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
    .systemLibrary(name: "CZMQ", path: "Sources/CZMQ"),
]

// MARK: GEMM engine, C side — CPU features (cpuid), oneDNN loaded at run time (Debian libdnnl2), FMA peak probe
targets += [
    .target(name: "CGemm", linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("openblas")]),
]

// MARK: sampling — which samples a step trains on and each sample's randomness (pure; no dependencies)
targets += [
    .target(name: "Sampling", swiftSettings: native),
    .testTarget(name: "SamplingTests", dependencies: ["Sampling"]),
]

// MARK: JSON text — the one JSON string escaper (RFC 8259), for every hand-written JSON line (no dependencies)
targets += [
    .target(name: "JSONText"),
    .testTarget(name: "JSONTextTests", dependencies: ["JSONText"]),
]

// MARK: safetensors — reading and writing the safetensors format, HostTensor (no BLAS, no model types)
targets += [
    .target(name: "SafeTensors", dependencies: ["JSONText"], swiftSettings: native),
    .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "Sampling", "TestSupport"],
                resources: [.copy("Fixtures")]),
    // Helpers more than one test target uses (test targets cannot import each other).
    .target(name: "TestSupport", path: "Tests/TestSupport"),
]

// MARK: model — ViT + heads forward/backward, losses, memories, AdamW, EMA, checkpoints, backbone embedding
targets += [
    .target(name: "MugsModel", dependencies: ["CBLAS", "CGemm", "SafeTensors", "Sampling"], swiftSettings: native),
    .testTarget(name: "MugsModelTests", dependencies: ["MugsModel", "SafeTensors", "Sampling", "TestSupport"],
                resources: [.copy("Fixtures")]),
]

// MARK: data — dataset sources, decoding, multi-crop augmentation, loader
targets += [
    .target(name: "CImage", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("z")]),
    .target(name: "MugsData", dependencies: ["CImage", "MugsModel", "SafeTensors", "Sampling"], swiftSettings: native),
    .testTarget(name: "MugsDataTests", dependencies: ["MugsData", "Sampling"], resources: [.copy("Fixtures")]),
]

// MARK: wire + transport — message encoding (pure), ZeroMQ sockets and ring all-reduce
// RingProbe is a hidden multi-process test/benchmark rank (not a product); TransportTests spawn it.
targets += [
    .target(name: "Wire"),
    .target(name: "Transport", dependencies: ["CZMQ", "Wire"], swiftSettings: native),
    .executableTarget(name: "RingProbe", dependencies: ["Sampling", "Transport", "Wire"], swiftSettings: native),
    .testTarget(name: "WireTests", dependencies: ["Sampling", "Wire"]),
    .testTarget(name: "TransportTests", dependencies: ["Transport", "Wire", "RingProbe"]),
]

// MARK: control port — HTTP/1.1 status/metrics/actions server and client (JSON strings from JSONText)
targets += [
    .target(name: "ControlPort", dependencies: ["JSONText"]),
    .testTarget(name: "ControlPortTests", dependencies: ["ControlPort", "Sampling"]),
]

// MARK: coordinator core — the coordinator's protocol as a pure state machine (no I/O)
targets += [
    .target(name: "CoordinatorCore"),
    .testTarget(name: "CoordinatorCoreTests", dependencies: ["CoordinatorCore"]),
]

// MARK: worker core — the worker's protocol as a pure state machine (no I/O)
targets += [
    .target(name: "WorkerCore", dependencies: ["Sampling"]),
    .testTarget(name: "WorkerCoreTests", dependencies: ["WorkerCore", "Sampling"]),
]

// MARK: job — mugs-coordinator and mugs-worker (the distributed job): each daemon's service in its own library over a
// small shared one; the worker links no coordinator code (no control port, no coordinator machine).
products += [.executable(name: "mugs-coordinator", targets: ["Coordinator"]),
             .executable(name: "mugs-worker", targets: ["Worker"])]
targets += [
    .target(name: "JobCommon", dependencies: ["JSONText", "MugsData", "MugsModel", "Transport", "Wire"],
            swiftSettings: native),
    .target(name: "CoordinatorDaemon", dependencies: ["JobCommon", "CoordinatorCore", "ControlPort", "JSONText",
                                                      "MugsData", "MugsEval", "MugsModel", "SafeTensors", "Sampling",
                                                      "Transport", "Wire"], swiftSettings: native),
    .target(name: "WorkerDaemon", dependencies: ["JobCommon", "MugsData", "MugsEval", "MugsModel", "Sampling",
                                                 "Transport", "Wire", "WorkerCore"], swiftSettings: native),
    .executableTarget(name: "Coordinator", dependencies: ["CoordinatorDaemon", "JobCommon", "MugsModel", argumentParser],
                      swiftSettings: native),
    .executableTarget(name: "Worker", dependencies: ["WorkerDaemon", "JobCommon", "MugsModel", argumentParser],
                      swiftSettings: native),
    .testTarget(name: "JobTests", dependencies: ["CoordinatorDaemon", "WorkerDaemon", "JobCommon", "ControlPort",
                                             "CoordinatorCore", "MugsData", "MugsModel", "SafeTensors", "Transport",
                                             "Wire", "Coordinator", "Worker", "MugsCLI"]),
]

// MARK: eval — kNN and linear-probe evaluation, feature cache, timm export mapping, attention maps
targets += [
    .target(name: "MugsEval", dependencies: ["MugsModel", "MugsData", "CImage", "SafeTensors", "Sampling"],
            swiftSettings: native),
    .testTarget(name: "MugsEvalTests", dependencies: ["MugsEval", "MugsModel", "MugsData", "SafeTensors", "Sampling"],
                resources: [.copy("Fixtures")]),
]

// MARK: executables
products += [.executable(name: "mugs", targets: ["MugsCLI"])]
targets += [
    .executableTarget(name: "MugsCLI", dependencies: ["MugsModel", "CBLAS", "ControlPort", "Transport", "MugsData",
                                                      "MugsEval", "SafeTensors", "Sampling", argumentParser],
                      swiftSettings: native),
]

let package = Package(
    name: "mugs",
    platforms: [.macOS(.v13)],
    products: products,
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: targets,
    swiftLanguageModes: [.v5]
)
