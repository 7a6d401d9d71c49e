// swift-tools-version: 6.1
// spamguard — a milter that classifies mail with a finetuned GPT-2 on OpenBLAS.
import PackageDescription

/// Hot loops in the model and text code run on unsafe pointers; release builds also drop exclusivity checks.
let fast: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

/// The engine's elementwise kernels (Sources/VectorKernels) are built once per x86-64 instruction-set tier from
/// the same files (the tier directories are links to it); GPT picks the widest one the CPU has at run time.
#if arch(x86_64)
let vectorTiers: [(name: String, cpu: String)] = [("VectorKernelsAVX2", "haswell"), ("VectorKernelsAVX512", "skylake-avx512")]
#else
let vectorTiers: [(name: String, cpu: String)] = []
#endif

let package = Package(
    name: "spamguard",
    products: [
        .executable(name: "spamguard", targets: ["spamguard"]),
        .executable(name: "spamguardctl", targets: ["spamguardctl"]),
        .executable(name: "spamguard-bench", targets: ["spamguard-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries from Debian, each behind a module map.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMilter", path: "Sources/CMilter", providers: [.apt(["libmilter-dev"])]),
        .systemLibrary(name: "CSystemd", path: "Sources/CSystemd", providers: [.apt(["libsystemd-dev"])]),
        // Linux declarations Glibc's module leaves out (epoll, eventfd, SO_PEERCRED's ucred); headers only.
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),

        // One library per concern.
        .target(name: "VectorKernels", swiftSettings: fast),
        .target(name: "GPT", dependencies: ["COpenBLAS", "VectorKernels"] + vectorTiers.map { .target(name: $0.name) },
                swiftSettings: fast),
        .target(name: "Tokenizer", swiftSettings: fast),
        .target(name: "MailText", swiftSettings: fast),
        // The control socket's wire format (JSON lines, versioned) and a blocking client for spamguardctl.
        .target(name: "ControlProtocol"),
        // The daemon's parts: configuration, policy, model actor and batching, libmilter bridge, systemd.
        .target(name: "SpamguardService", dependencies: [
            "CMilter", "CSystemd", "CLinux", "MailText", "ControlProtocol",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .target(name: "Training", dependencies: [
            "GPT", "Tokenizer", "MailText", .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: fast),
        // The learning loop: feedback intake, ledger, versioned classifier store, quality gate, idle-time finetuning.
        .target(name: "Learning", dependencies: [
            "SpamguardService", "ControlProtocol", "Training", "GPT", "Tokenizer", "MailText",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),

        // Thin executables.
        .executableTarget(name: "spamguard", dependencies: [
            "GPT", "Tokenizer", "MailText", "Training", "SpamguardService", "Learning",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "spamguardctl", dependencies: [
            "GPT", "Tokenizer", "MailText", "Training", "ControlProtocol", "SpamguardService", "Learning",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "spamguard-bench", dependencies: [
            "CLinux", "GPT", "Tokenizer", "MailText", "Training", "ControlProtocol", "SpamguardService",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),

        .testTarget(name: "GPTTests", dependencies: ["GPT", "VectorKernels"], resources: [.copy("Reference")]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MailTextTests", dependencies: ["MailText"]),
        .testTarget(name: "SpamguardServiceTests", dependencies: [
            "SpamguardService", "MailText",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ]),
        // The harness of the test targets that drive real daemons (a library, not a test target): scratch
        // directories, the `spamguard` process (configuration, start, readiness, stop, kill -9, logs), miltertest
        // and its Lua scripts (in miltertest/, found by #filePath), systemd's notify socket, Postfix, tiny models.
        .target(name: "DaemonTestSupport", dependencies: ["ControlProtocol", "Training"],
                path: "Tests/DaemonTestSupport", exclude: ["miltertest"]),
        // Drives the built `spamguard` binary with miltertest and a real Postfix (Debian packages; see scripts/setup).
        .testTarget(name: "SpamguardEndToEndTests", dependencies: ["DaemonTestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "GPT"]),
        .testTarget(name: "ControlProtocolTests", dependencies: ["ControlProtocol"]),
        // Starts the real `spamguard` and drives it with miltertest, spamguardctl and curl (see scripts/setup).
        .testTarget(name: "ControlEndToEndTests", dependencies: ["DaemonTestSupport", "ControlProtocol"]),
        .testTarget(name: "LearningTests", dependencies: [
            "DaemonTestSupport", "Learning", "SpamguardService", "ControlProtocol", "Training", "GPT",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
    ] + vectorTiers.map { .target(name: $0.name, swiftSettings: fast + [.unsafeFlags(["-target-cpu", $0.cpu])]) }
)
