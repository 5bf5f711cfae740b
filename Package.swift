// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Drove",
    products: [
        .executable(name: "drove", targets: ["drove"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.25.0"),
    ],
    targets: [
        // libvirt's C API, found with pkg-config (Debian: libvirt-dev).
        .systemLibrary(
            name: "CLibvirt",
            pkgConfig: "libvirt",
            providers: [.apt(["libvirt-dev"])]
        ),
        // The C API in Swift: connections, pools, volumes, domains, streams, events.
        .target(
            name: "Libvirt",
            dependencies: [
                "CLibvirt",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The control layer: one libvirt host as Drove sees it (domain XML, ownership metadata,
        // observing, creating and removing what Drove owns).
        .target(
            name: "DroveHost",
            dependencies: [
                "Libvirt",
                "DrovePlan",
                "DroveManifest",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The strategy layer's pure part: observed state, actions, and plan(desired, observed).
        .target(
            name: "DrovePlan",
            dependencies: ["DroveManifest"]
        ),
        // The reconcile engine: template catalog, executor, and the converge loop.
        .target(
            name: "DroveEngine",
            dependencies: [
                "DroveManifest",
                "DrovePlan",
                "DroveHost",
                "Libvirt",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Manifests: the object model, strict YAML loading and validation, JSON Schema.
        .target(
            name: "DroveManifest",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Template images on the controller's disk, content-addressed (SHA-256), checked with
        // qemu-img before they are kept; uploads, dedupe and garbage collection.
        .target(
            name: "DroveTemplateStore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The controller's store: desired objects, status, events, change stream, leases; on an
        // embedded SQLite file (GRDB) or a PostgreSQL server shared by several replicas.
        .target(
            name: "DroveStore",
            dependencies: [
                "DroveManifest",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The wire types and paths of the HTTP API, shared by the server and its clients.
        .target(
            name: "DroveAPI",
            dependencies: ["DroveManifest"]
        ),
        // A client of that API (URLSession): typed calls, the watch stream, waiting for objects.
        .target(
            name: "DroveClient",
            dependencies: ["DroveAPI", "DroveManifest"]
        ),
        // The HTTP API of `drove serve`: apply, get, delete, events, plan, watch (SSE), metrics,
        // git syncs and push webhooks; and the web portal at `/` (pages rendered with Mustache).
        .target(
            name: "DroveServer",
            dependencies: [
                "DroveAPI",
                "DroveStore",
                "DroveManifest",
                "DrovePlan",
                "DroveTemplateStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The always-on controller: host connections, the work queue, reconcile, status and events.
        .target(
            name: "DroveController",
            dependencies: [
                "DroveAPI",
                "DroveEngine",
                "DroveHost",
                "DroveManifest",
                "DrovePlan",
                "DroveQueue",
                "DroveStore",
                "Libvirt",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // git itself, as a child process with a fixed environment: one bare mirror per source,
        // fetched into; revisions read from its objects without a checkout.
        .target(
            name: "DroveGit",
            dependencies: ["DroveManifest"]
        ),
        // GitOps: keeps the store in step with each GitSource's repository (fetch, validate,
        // apply as one transaction, prune, status).
        .target(
            name: "DroveGitOps",
            dependencies: [
                "DroveGit",
                "DroveManifest",
                "DroveQueue",
                "DroveStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // A local lab of isolated libvirt hosts on this machine.
        .target(
            name: "DroveLab",
            dependencies: [
                "Libvirt",
                "DroveManifest",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "drove",
            dependencies: [
                "DroveAPI",
                "DroveClient",
                "DroveServer",
                "DroveStore",
                "DroveController",
                "Libvirt",
                "DroveManifest",
                "DroveLab",
                "DrovePlan",
                "DroveEngine",
                "DroveGitOps",
                "DroveTemplateStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The benchmark: the research table, pre-copy, Drove's own overhead, and scale.
        .executableTarget(
            name: "drove-bench",
            dependencies: [
                "Libvirt",
                "DroveManifest",
                "DrovePlan",
                "DroveHost",
                "DroveEngine",
                "DroveLab",
                "DroveController",
                "DroveStore",
                "DroveQueue",
                "DroveAPI",
                "DroveClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The controller's work queue (collapsing, rate-limited, never one key twice at once),
        // its workers, and timing helpers (backoff, jittered resync, an injectable clock).
        // libFuzzer's target over the manifest loader and the apply route's request decoding
        // (scripts/fuzz.sh builds it with -sanitize=fuzzer); a plain build makes a replayer.
        .executableTarget(name: "drove-fuzz", dependencies: ["DroveManifest", "DroveAPI"]),
        .target(
            name: "DroveQueue",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What the tests share: finding the lab hosts, and an in-memory host for tests without QEMU.
        .target(name: "DroveTestSupport", dependencies: ["DroveEngine", "DroveHost", "DrovePlan", "DroveManifest", "Libvirt",
                                                        .product(name: "HummingbirdTesting", package: "hummingbird")],
                path: "Tests/DroveTestSupport"),
        .testTarget(name: "LibvirtTests", dependencies: ["Libvirt", "DroveTestSupport"]),
        .testTarget(name: "DroveHostTests", dependencies: ["DroveHost", "DrovePlan", "DroveManifest", "Libvirt", "DroveTestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "DrovePlanTests", dependencies: ["DrovePlan", "DroveManifest"]),
        .testTarget(name: "DroveEngineTests", dependencies: ["DroveEngine", "DrovePlan", "DroveHost", "DroveManifest", "Libvirt", "DroveLab", "DroveTestSupport"]),
        // The hostile manifest corpus (in Tests/DroveManifestTests/Hostile) and its reader, for the loader's and the API's suites.
        .target(name: "HostileCorpus", dependencies: ["DroveManifest"], path: "Tests/HostileCorpus"),
        .testTarget(name: "DroveManifestTests", dependencies: ["DroveManifest", "HostileCorpus"], exclude: ["Hostile"]),
        .testTarget(name: "DroveQueueTests", dependencies: ["DroveQueue"]),
        .testTarget(name: "DroveControllerTests", dependencies: [
            "DroveController", "DroveStore", "DroveManifest", "DrovePlan", "DroveEngine", "DroveHost", "Libvirt", "DroveLab", "DroveTestSupport",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // GitOps over real git repositories the tests make: in-memory hosts, and the lab's.
        .testTarget(name: "DroveGitOpsTests", dependencies: [
            "DroveGitOps", "DroveGit", "DroveController", "DroveStore", "DroveManifest", "DroveServer", "DroveAPI", "DroveEngine",
            "DrovePlan", "DroveTestSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            "Libvirt",
        ]),
        .testTarget(name: "DroveTemplateStoreTests", dependencies: ["DroveTemplateStore", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "DroveStoreTests", dependencies: ["DroveStore", "DroveManifest", "DroveTestSupport",
                                                         .product(name: "GRDB", package: "GRDB.swift"),
                                                         .product(name: "PostgresNIO", package: "postgres-nio")]),
        .testTarget(name: "DroveServerTests", dependencies: [
            "DroveAPI", "DroveServer", "DroveStore", "DroveManifest", "DrovePlan", "DroveTemplateStore", "HostileCorpus",
            .product(name: "Crypto", package: "swift-crypto"),
            // Reads docs/openapi.yaml (OpenAPITests).
            .product(name: "Yams", package: "Yams"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The client against a real server in-process (a fake controller behind it).
        .testTarget(name: "DroveClientTests", dependencies: [
            "DroveClient", "DroveAPI", "DroveServer", "DroveStore", "DroveManifest", "DrovePlan",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // The CLI binary as users run it (needs `swift build` first; `swift test` builds it).
        .testTarget(name: "DroveCLITests", dependencies: ["DroveTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        // The portal in headless Chromium (chromedriver) against the built binary on the lab.
        .testTarget(name: "DrovePortalBrowserTests", dependencies: ["DroveTestSupport"]),
        .testTarget(name: "DroveLabTests", dependencies: ["DroveLab", "Libvirt", "DroveManifest", "DroveTestSupport"]),
        // CI's sample of the fault suite: `drove-bench faults --trials 1` on the lab (needs `swift build` first).
        .testTarget(name: "DroveFaultTests", dependencies: ["DroveTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
