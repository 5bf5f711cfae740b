import ArgumentParser
import Foundation

/// `drove-bench`: Drove's benchmark. It starts its own lab of libvirt hosts, makes its own
/// templates, runs the figures asked for, prints a table and writes JSON, and takes the lab
/// down again whatever happens. See docs/benchmarks.md.
@main
struct DroveBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drove-bench",
        abstract: "Measure Drove: the research table, pre-copy, Drove's own overhead, scale, the controller as one fleet, time to ready, and instant clones.",
        discussion: """
            Run it in release mode, as root, on an otherwise quiet machine:
              swift build -c release --product drove-bench --product drove
              .build/release/drove-bench --figures 1,2,3,4,5,6,7 --sizes 256M,1G,2G --runs 3 --json bench.json
            Figures 1-3, 6 and 7 start a lab of 3 libvirt hosts in --lab-dir (anything already running
            there is taken down first) and stop it at the end; figures 4 and 5 need no lab. Figures 6
            and 7 boot the tiny guest (scripts/build-tiny-template.sh).
            """,
        subcommands: [Run.self, Faults.self, PlannerProbe.self, ControllerProbe.self],
        defaultSubcommand: Run.self)
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the benchmark (the default).")

    @Option(help: "Figures to run, comma-separated: 1 research table, 2 pre-copy, 3 overhead, 4 scale, 5 the controller as one fleet, 6 time to ready, 7 instant clones.")
    var figures: FigureList = FigureList(argument: "1,2,3,4,5,6,7")!

    @Option(help: "Figure 6: the tiny guest image (scripts/build-tiny-template.sh makes it).")
    var tinyTemplate = "manifests/images/tiny.qcow2"

    @Option(help: "Template data sizes for figures 1 and 2, comma-separated (e.g. 256M,1G,2G).")
    var sizes: SizeList = SizeList(argument: "256M,1G,2G")!

    @Option(help: "Repetitions of every measurement (the median is reported).")
    var runs = 3

    @Option(help: "Where to write the results as JSON.")
    var json = "drove-bench-results.json"

    @Option(help: "The lab's directory (the benchmark's own: whatever runs there is taken down).")
    var labDir = "/var/lib/drove/lab-bench"

    @Option(help: "Scratch directory for templates and manifests (deleted at the end).")
    var scratch = "/var/tmp/drove-bench"

    @Option(help: "VMs per deployment in figures 1 (all modes) and 2.")
    var vms = 10

    @Option(help: "VMs per deployment for the linked modes' larger N (figure 1) and figure 3.")
    var vmsLarge = 30

    @Option(help: "Guest memory in MiB (guests sit in the BIOS: templates hold data, not an OS).")
    var memory = 64

    @Option(help: "Virtual size of figure 2's sparse template, and the data it holds (e.g. 10G:256M).")
    var sparse = SparseSpec(argument: "10G:256M")!

    @Option(help: "Figure 4: hosts and VMs for the planner alone.")
    var plannerHosts = 500
    @Option(name: .customLong("planner-vms"), help: "Figure 4: desired VMs for the planner alone.")
    var plannerVMs = 10_000
    @Option(help: "Figure 4: test-driver hosts for the converged pass.")
    var testHosts = 100
    @Option(name: .customLong("test-vms-per-host"), help: "Figure 4: VMs on each test-driver host.")
    var testVMsPerHost = 50

    @Option(help: "Figure 5: test-driver hosts under the controller.")
    var controllerHosts = 100
    @Option(help: "Figure 5: VM sets applied at once.")
    var controllerSets = 100
    @Option(help: "Figure 5: VMs in each set.")
    var controllerReplicas = 10
    @Option(help: "Figure 5: the controller's workers (drove serve --workers).")
    var controllerWorkers = 4
    @Option(help: ArgumentHelp("Figure 5: the store: sqlite (a file in the scratch directory), or postgres://USER:PASSWORD@HOST:PORT/DB, a server whose role may create databases: each run makes a database of its own there (drove_bench_<random>, with psql) and drops it after.",
                               valueName: "sqlite|url"))
    var controllerStore: ControllerStoreChoice = .sqlite
    @Option(help: "Figure 5: how the rollout is applied: store (Store.apply in the probe) or follower (POST /api/v1/apply to a `drove serve` follower over the same PostgreSQL database).")
    var controllerApply: ControllerApply = .store

    @Option(help: "The drove CLI for figure 3's subprocess column (default: next to drove-bench; 'none' to skip).")
    var drove: String?

    func validate() throws {
        if runs < 1 { throw ValidationError("--runs must be at least 1") }
        if vms < 1 || vmsLarge < 1 { throw ValidationError("--vms and --vms-large must be at least 1") }
        if memory < 16 { throw ValidationError("--memory must be at least 16 (MiB)") }
        if min(controllerHosts, controllerSets, controllerReplicas, controllerWorkers) < 1 {
            throw ValidationError("--controller-hosts, --controller-sets, --controller-replicas and --controller-workers must be at least 1")
        }
        if controllerApply == .follower, controllerStore == .sqlite {
            throw ValidationError("--controller-apply follower needs --controller-store postgres://… (a follower shares the leader's database)")
        }
        if controllerApply == .follower, droveBinary() == nil {
            throw ValidationError("--controller-apply follower needs the drove binary (beside drove-bench, or --drove)")
        }
    }

    func run() async throws {
        guard getuid() == 0 else { throw ValidationError("drove-bench needs root: it starts libvirt daemons") }
        let options = BenchOptions(
            figures: figures.values, sizes: sizes.values, runs: runs, jsonPath: json,
            labDirectory: URL(fileURLWithPath: labDir, isDirectory: true),
            scratch: URL(fileURLWithPath: scratch, isDirectory: true), vms: vms, vmsLarge: vmsLarge,
            memoryMiB: memory, sparse: sparse, plannerHosts: plannerHosts, plannerVMs: plannerVMs,
            testHosts: testHosts, testVMsPerHost: testVMsPerHost,
            controller: ControllerShape(hosts: controllerHosts, sets: controllerSets, replicas: controllerReplicas, workers: controllerWorkers,
                                        store: controllerStore, apply: controllerApply),
            droveBinary: droveBinary(), tinyTemplate: URL(fileURLWithPath: tinyTemplate).standardizedFileURL.path)
        let bench = Benchmark(options: options)
        try await bench.run()
    }

    /// The `drove` CLI beside this binary, unless told otherwise.
    func droveBinary() -> String? {
        if let drove { return drove == "none" ? nil : drove }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("drove").path
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : nil
    }
}

/// Everything a run was asked to do.
struct BenchOptions: Sendable {
    var figures: [Int]
    var sizes: [Size]
    var runs: Int
    var jsonPath: String
    var labDirectory: URL
    var scratch: URL
    var vms: Int
    var vmsLarge: Int
    var memoryMiB: Int
    var sparse: SparseSpec
    var plannerHosts: Int
    var plannerVMs: Int
    var testHosts: Int
    var testVMsPerHost: Int
    var controller: ControllerShape
    var droveBinary: String?

    var tinyTemplate: String

    var needsLab: Bool { figures.contains { $0 <= 3 || $0 == 6 || $0 == 7 } }
}

// MARK: Option parsing

struct FigureList: ExpressibleByArgument, Sendable {
    let values: [Int]
    init?(argument: String) {
        let parsed = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0.map { (1...7).contains($0) } ?? false }) else { return nil }
        values = Array(Set(parsed.compactMap { $0 })).sorted()
    }
}

/// A byte size written like 256M, 1G, 2G, 512K, 10G.
struct Size: Sendable, Hashable, Codable, CustomStringConvertible {
    let bytes: UInt64
    let label: String

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, UInt64)] = [("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = UInt64(text.dropLast(suffix.count)), value > 0 else { return nil }
            bytes = value * scale
            label = Self.format(bytes)
            return
        }
        return nil
    }

    init(bytes: UInt64) {
        self.bytes = bytes
        label = Self.format(bytes)
    }

    var description: String { label }

    static func format(_ bytes: UInt64) -> String {
        if bytes >= 1 << 30, bytes % (1 << 30) == 0 { return "\(bytes >> 30) GiB" }
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        return "\(bytes) B"
    }

    /// A name fit for a manifest: `256m`, `1g`.
    var slug: String {
        if bytes % (1 << 30) == 0 { return "\(bytes >> 30)g" }
        return "\(bytes >> 20)m"
    }
}

struct SizeList: ExpressibleByArgument, Sendable {
    let values: [Size]
    init?(argument: String) {
        let parsed = argument.split(separator: ",").map { Size(argument: String($0)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else { return nil }
        values = parsed.compactMap { $0 }
    }
}

struct SparseSpec: ExpressibleByArgument, Sendable {
    let virtual: Size
    let data: Size
    init?(argument: String) {
        let parts = argument.split(separator: ":")
        guard parts.count == 2, let virtual = Size(argument: String(parts[0])), let data = Size(argument: String(parts[1])),
              data.bytes <= virtual.bytes else { return nil }
        self.virtual = virtual
        self.data = data
    }
}
