import ArgumentParser
import DroveAPI
import DroveController
import DroveEngine
import DroveManifest
import DrovePlan
import DroveQueue
import DroveStore
import Foundation
import Libvirt
import Logging

/// Figure 5, the controller as one fleet: many VM sets applied at once to a real `Controller`
/// (the one `drove serve` runs, with its default libvirt connector) over hosts of libvirt's test
/// driver: the time until every set is Ready, the libvirt calls of the rollout, and those of a
/// resync once the fleet has converged.
///
/// Each run is a `drove-bench controller-probe` process of its own, so its peak memory is that of
/// the controller and its hosts alone (not of the figures before it), and every run starts from
/// fresh test-driver hosts and an empty store.
struct ControllerFigure {
    /// What one run measured, as the probe reports it.
    struct Sample: Codable, Sendable {
        /// Connecting to every host and reading it, before any set is applied (not a target).
        var connectSeconds: Double
        /// From the store apply of every set until every set's Ready reason is AllReplicasReady.
        var readySeconds: Double
        /// libvirt calls from that apply until the controller is quiet again: the whole rollout.
        var rolloutCalls: Int
        var rolloutMutating: [String: Int]
        /// One resync of the converged fleet, from `Controller.resync()` until every set's pass is done.
        var resyncSeconds: Double
        var resyncCalls: Int
        var resyncMutating: [String: Int]
        /// Resident memory after the resync less before it: what one resync of a converged fleet
        /// leaves behind (near zero unless something leaks).
        var resyncGrowthBytes: Int
        /// The process's peak resident set (VmHWM) with the store open and the manifests loaded,
        /// before the controller started; and at the end.
        var baselinePeakBytes: Int
        var peakBytes: Int
        /// The store's engine (`sqlite`, `postgres`) and how the sets were applied (`store`, `follower`).
        var storeEngine: String
        var applyVia: String
        /// The apply alone: `Store.apply` of every set, or the follower's `POST /api/v1/apply`.
        var applySeconds: Double
        /// The store's size once the rollout has settled: the SQLite file and its WAL, or the
        /// PostgreSQL database's `pg_database_size`.
        var storeBytes: Int
        /// How many times the probe took the controller lease and started its controller (1
        /// unless it lost the lease during the run).
        var leaderStarts: Int
        /// The follower's peak resident set and its role at the end (follower-apply runs only).
        var followerPeakBytes: Int?
        var followerRoleAtEnd: String?
    }

    struct Result: Codable, Sendable {
        var hosts: Int
        var sets: Int
        var replicas: Int
        var workers: Int
        var driver: String
        var connectSeconds: Summary
        var readySeconds: Summary
        var rolloutCallsPerVM: Summary
        var rolloutMutatingPerVM: Summary
        var resyncSeconds: Summary
        var resyncCallsPerVM: Summary
        /// Every run's mutating calls during its resync, by operation (empty when none changed anything).
        var resyncMutatingByOperation: [String: Int]
        var resyncGrowthBytes: Summary
        var peakBytes: Summary
        var baselinePeakBytes: Summary
        var storeEngine: String
        var applyVia: String
        var applySeconds: Summary
        var storeBytes: Summary
        var samples: [Sample]

        var vms: Int { sets * replicas }
        var resyncMutatingCalls: Int { resyncMutatingByOperation.values.reduce(0, +) }
    }

    let options: BenchOptions

    func run() async throws -> Result {
        let shape = options.controller
        var samples: [Sample] = []
        for run in 0..<options.runs {
            let directory = options.scratch.appendingPathComponent("controller-\(run)", isDirectory: true)
            // A PostgreSQL store is a database of its own per run, made here and dropped here
            // whatever the probe does.
            var database: (name: String, url: String)?
            if case let .postgres(server) = shape.store { database = try await ScratchDatabase.create(on: server) }
            let sample: Sample
            do {
                sample = try await probe(shape, directory: directory, storeURL: database?.url)
            } catch {
                if let database, case let .postgres(server) = shape.store { try? await ScratchDatabase.drop(database.name, on: server) }
                throw error
            }
            if let database, case let .postgres(server) = shape.store { try await ScratchDatabase.drop(database.name, on: server) }
            try? FileManager.default.removeItem(at: directory)
            samples.append(sample)
            Progress.say("figure 5: \(shape.sets) sets × \(shape.replicas) VMs on \(shape.hosts) hosts, \(sample.storeEngine) store, apply via \(sample.applyVia) "
                + "(\(Format.seconds(sample.applySeconds))): Ready in \(Format.seconds(sample.readySeconds)), "
                + "\(sample.rolloutCalls) calls; resync \(Format.seconds(sample.resyncSeconds)), \(sample.resyncCalls) calls, "
                + "\(sample.resyncMutating.values.reduce(0, +)) mutating, \(Format.bytes(UInt64(max(0, sample.resyncGrowthBytes)))) more resident; peak \(Format.bytes(UInt64(sample.peakBytes))); "
                + "store \(Format.bytes(UInt64(sample.storeBytes))); connect \(Format.seconds(sample.connectSeconds)); leader starts \(sample.leaderStarts)"
                + (sample.followerPeakBytes.map { "; follower peak \(Format.bytes(UInt64($0))), \(sample.followerRoleAtEnd ?? "?") at the end" } ?? "")
                + " (run \(run + 1)/\(options.runs))")
        }
        let vms = Double(shape.sets * shape.replicas)
        return Result(
            hosts: shape.hosts, sets: shape.sets, replicas: shape.replicas, workers: shape.workers,
            driver: "test:///<node file> (libvirt's test driver, one private instance per host, in the controller's process)",
            connectSeconds: Summary(samples.map(\.connectSeconds)), readySeconds: Summary(samples.map(\.readySeconds)),
            rolloutCallsPerVM: Summary(samples.map { Double($0.rolloutCalls) / vms }),
            rolloutMutatingPerVM: Summary(samples.map { Double($0.rolloutMutating.values.reduce(0, +)) / vms }),
            resyncSeconds: Summary(samples.map(\.resyncSeconds)),
            resyncCallsPerVM: Summary(samples.map { Double($0.resyncCalls) / vms }),
            resyncMutatingByOperation: samples.reduce(into: [:]) { $0.merge($1.resyncMutating, uniquingKeysWith: +) },
            resyncGrowthBytes: Summary(samples.map { Double($0.resyncGrowthBytes) }),
            peakBytes: Summary(samples.map { Double($0.peakBytes) }),
            baselinePeakBytes: Summary(samples.map { Double($0.baselinePeakBytes) }),
            storeEngine: shape.store.engine, applyVia: shape.apply.rawValue, applySeconds: Summary(samples.map(\.applySeconds)),
            storeBytes: Summary(samples.map { Double($0.storeBytes) }), samples: samples)
    }

    /// Runs `drove-bench controller-probe` and reads the sample it prints.
    private func probe(_ shape: ControllerShape, directory: URL, storeURL: String?) async throws -> Sample {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        var arguments = ["controller-probe", "--hosts", String(shape.hosts), "--sets", String(shape.sets),
                         "--replicas", String(shape.replicas), "--workers", String(shape.workers),
                         "--directory", directory.path, "--apply", shape.apply.rawValue]
        if let storeURL { arguments += ["--store", storeURL] }
        if let drove = options.droveBinary { arguments += ["--drove", drove] }
        let output = try await Subprocess.check(me, arguments)
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix(ControllerProbe.prefix) }) else {
            throw BenchError("controller-probe printed no sample: \(output.suffix(2000))")
        }
        return try JSONDecoder().decode(Sample.self, from: Data(line.dropFirst(ControllerProbe.prefix.count).utf8))
    }
}

/// The fleet figure 5 deploys.
struct ControllerShape: Sendable {
    var hosts: Int
    var sets: Int
    var replicas: Int
    var workers: Int
    /// The store (default: SQLite in the scratch directory) and how the rollout is applied.
    var store: ControllerStoreChoice = .sqlite
    var apply: ControllerApply = .store
}

/// `drove-bench controller-probe`: one run of figure 5 in a process of its own; prints its sample
/// as one JSON line.
struct ControllerProbe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "controller-probe", shouldDisplay: false)
    static let prefix = "controller-sample "

    @Option var hosts = 100
    @Option var sets = 100
    @Option var replicas = 10
    @Option var workers = 4
    @Option var directory: String
    /// A PostgreSQL database of the run's own (the figure makes and drops it); SQLite in
    /// `directory` when absent.
    @Option var store: String?
    @Option var apply: ControllerApply = .store
    /// The `drove` binary for the follower.
    @Option var drove: String?

    func run() async throws {
        let run = ControllerRun(shape: ControllerShape(hosts: hosts, sets: sets, replicas: replicas, workers: workers,
                                                       store: store.map { .postgres(server: $0) } ?? .sqlite, apply: apply),
                                directory: URL(fileURLWithPath: directory, isDirectory: true), storeURL: store, drove: drove)
        let sample = try await run.measure()
        print(Self.prefix + String(decoding: try JSONEncoder().encode(sample), as: UTF8.self))
    }
}

/// One run: hosts and a template stored and connected, then every set applied at once, then a
/// resync of the converged fleet.
struct ControllerRun {
    let shape: ControllerShape
    let directory: URL
    /// The run's own PostgreSQL database, or nil for SQLite in `directory`.
    var storeURL: String?
    var drove: String?

    private var templateName: String { "tiny" }
    private var hostNames: [String] { (1...shape.hosts).map { String(format: "h%03d", $0) } }
    private var setNames: [String] { (1...shape.sets).map { String(format: "s%03d", $0) } }

    func measure() async throws -> ControllerFigure.Sample {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (infrastructure, sets, setsSources) = try await objects()
        if shape.apply == .follower, storeURL == nil || drove == nil {
            throw BenchError("applying through a follower needs a PostgreSQL store (--controller-store postgres://…) and the drove binary")
        }
        let store: Store
        if let storeURL {
            store = try await Store.open(.postgres(try PostgresLocation(url: storeURL)))
        } else {
            store = try Store(path: sqlitePath)
        }
        defer { try? store.close() }
        _ = try await store.apply(infrastructure)
        let baseline = Memory.peakResidentBytes()

        let options = Controller.Options(
            workers: shape.workers, resync: ResyncSchedule(interval: .seconds(3600)), // only the resync measured here
            policy: ManifestPolicy(testDriver: true, templateFiles: .anywhere))
        let logger = Logger(label: "drove-bench.controller") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        // As `drove serve` runs it: under leader election on the store's `controller` lease,
        // which this process takes first (the store is fresh); a follower started after that
        // finds the lease held and only serves the API.
        let elected = ElectedController(store: store, options: options, logger: logger)
        var follower: FollowerReplica?
        do {
            let controller = try await elected.controller()
            if shape.apply == .follower, let storeURL, let drove {
                let replica = try FollowerReplica(drove: drove, store: storeURL, directory: directory)
                follower = replica
                _ = try await replica.waitUntilFollowing()
            }
            var sample = try await measure(controller, store: store, sets: sets, setsSources: setsSources, follower: follower, baseline: baseline)
            sample.leaderStarts = elected.starts
            if let follower {
                sample.followerRoleAtEnd = await follower.role()
                sample.followerPeakBytes = follower.peakResidentBytes()
                await follower.stop()
            }
            await elected.stop()
            return sample
        } catch {
            if let follower {
                FileHandle.standardError.write(Data("follower's log, last lines:\n\(follower.tail())\n".utf8))
                await follower.stop()
            }
            await elected.stop()
            throw error
        }
    }

    private var sqlitePath: String { directory.appendingPathComponent("drove.sqlite").path }

    private func measure(_ controller: Controller, store: Store, sets: [AppliedObject], setsSources: [ManifestSource],
                         follower: FollowerReplica?, baseline: Int) async throws -> ControllerFigure.Sample {
        let (connectSeconds, _) = try await timed {
            try await waitForAll("every host connected", hostNames, timeout: .seconds(600)) { name in
                try await store.status(kind: .host, name: name)?.condition(.ready)?.reason == ConditionReason.connected.rawValue
            }
        }
        try await quiet(controller)

        let beforeRollout = CallStatistics.snapshot()
        var applySeconds = 0.0
        let (readySeconds, _) = try await timed {
            if let follower {
                let sources = setsSources.map { APISource(name: $0.name, text: String(decoding: $0.bytes, as: UTF8.self), baseDirectory: $0.baseDirectory) }
                let (seconds, response) = try await timed { try await follower.apply(sources) }
                applySeconds = seconds
                let created = response.results.filter { $0.result == "created" }.count
                guard created == shape.sets else { throw BenchError("the follower's apply created \(created) of \(shape.sets) sets: \(response.results.prefix(3))") }
            } else {
                (applySeconds, _) = try await timed { try await store.apply(sets) }
            }
            try await waitForAll("every set Ready", setNames, timeout: .seconds(1800)) { name in
                try await store.status(kind: .vmSet, name: name)?.condition(.ready)?.reason == ConditionReason.allReplicasReady.rawValue
            }
        }
        // Said at once, so that a run that fails later (a controller that never settles) still
        // tells how long the rollout took.
        FileHandle.standardError.write(Data("controller-probe: every set Ready \(readySeconds) s after the apply (apply \(applySeconds) s), peak \(Memory.peakResidentBytes()) B\n".utf8))
        try await quiet(controller)
        let rollout = CallStatistics.snapshot().since(beforeRollout)
        let storeBytes = if let storeURL { try await ScratchDatabase.size(storeURL) } else { StoreSize.sqlite(sqlitePath) }

        let beforeResync = CallStatistics.snapshot()
        let residentBefore = Memory.residentBytes()
        let (resyncSeconds, _) = try await timed {
            await controller.resync()
            while await controller.queue.depth + controller.queue.processingCount > 0 {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        try await quiet(controller)
        let resync = CallStatistics.snapshot().since(beforeResync)
        let growth = Memory.residentBytes() - residentBefore
        return ControllerFigure.Sample(
            connectSeconds: connectSeconds, readySeconds: readySeconds, rolloutCalls: rollout.calls, rolloutMutating: rollout.mutating,
            resyncSeconds: resyncSeconds, resyncCalls: resync.calls, resyncMutating: resync.mutating, resyncGrowthBytes: growth,
            baselinePeakBytes: baseline, peakBytes: Memory.peakResidentBytes(),
            storeEngine: storeURL == nil ? "sqlite" : "postgres", applyVia: shape.apply.rawValue, applySeconds: applySeconds,
            storeBytes: storeBytes, leaderStarts: 0, followerPeakBytes: nil, followerRoleAtEnd: nil)
    }

    /// The stored objects: hosts and the template first, then the sets, read by Drove's own
    /// loader as the API reads them. Writes each host's node file, holding the template's copy
    /// and its ready marker: the test driver cannot take an upload, and each connection to a
    /// `test:///<node file>` host starts from that file.
    private func objects() async throws -> (infrastructure: [AppliedObject], sets: [AppliedObject], setsSources: [ManifestSource]) {
        let templateFile = directory.appendingPathComponent("tiny.qcow2")
        try await TemplateMaker.emptyQcow2(at: templateFile, virtualBytes: 1 << 30)
        let nodes = hostNames.map { directory.appendingPathComponent("\($0).xml") }
        let infrastructure = zip(hostNames, nodes).map { name, node in
            """
            apiVersion: drove/v1
            kind: Host
            metadata: { name: \(name) }
            spec: { uri: "test://\(node.path)", domainType: qemu }
            """
        } + ["""
            apiVersion: drove/v1
            kind: Template
            metadata: { name: \(templateName) }
            spec: { source: { path: "\(templateFile.path)" }, format: qcow2, readiness: running }
            """]
        let sets = setNames.map { SetDecl(name: $0, replicas: shape.replicas, template: templateName, clone: .linked, memoryMiB: 64).yaml }
        // The loader takes at most 1,000 documents a file: files of 500, as one would split them.
        func files(_ prefix: String, _ documents: [String]) -> [ManifestSource] {
            stride(from: 0, to: documents.count, by: 500).map { start in
                ManifestSource(name: "\(prefix)-\(start / 500 + 1).yaml", text: documents[start..<min(start + 500, documents.count)].joined(separator: "\n---\n"),
                               baseDirectory: directory.path)
            }
        }
        let setsSources = files("sets", sets)
        let sources = files("fleet", infrastructure) + setsSources
        let manifest = try ManifestLoader(policy: ManifestPolicy(testDriver: true)).load(sources: sources)

        let read = await TemplateImages().images(for: manifest.templates)
        guard let image = read.images[templateName] else { throw BenchError("cannot read \(templateFile.path): \(read.failures)") }
        let volumes = [TestDriver.volumeXML(name: image.volume, format: image.format, capacity: image.virtualBytes),
                       TestDriver.volumeXML(name: Naming.templateReadyMarker(digest: image.digest), format: "raw", capacity: 0)]
        let vmsPerHost = (shape.sets * shape.replicas + shape.hosts - 1) / shape.hosts
        for (name, node) in zip(hostNames, nodes) {
            let xml = TestDriver.nodeXML(pool: "/drove-bench-\(name)", cpus: max(16, vmsPerHost), memoryKiB: 256 << 20, volumes: volumes)
            try Data(xml.utf8).write(to: node)
        }
        let objects = try AppliedObject.objects(in: manifest, sources: sources)
        return (objects.filter { $0.reference.kind != .vmSet }, objects.filter { $0.reference.kind == .vmSet }, setsSources)
    }

    /// Polls until `isDone` holds for every name, asking again only about those not done yet.
    private func waitForAll(_ what: String, _ names: [String], timeout: Duration,
                            _ isDone: (String) async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        var pending = names
        while true {
            var left: [String] = []
            for name in pending {
                if try await !isDone(name) { left.append(name) }
            }
            pending = left
            if pending.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                throw BenchError("timed out waiting for \(what): \(pending.count) not yet, e.g. \(pending.prefix(3))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until the controller has nothing queued, in hand or scheduled, and has made no
    /// libvirt call for a second: what a rollout or resync set off is then counted in full.
    private func quiet(_ controller: Controller) async throws {
        let clock = ContinuousClock()
        // Ten minutes, and a second more per set: at 1,000 sets on a loaded machine the passes
        // after a rollout took longer than ten minutes.
        let deadline = clock.now + .seconds(600 + shape.sets)
        var calls = CallStatistics.snapshot().calls
        var since = clock.now
        while clock.now - since < .seconds(1) {
            guard clock.now < deadline else {
                let queue = controller.queue
                throw BenchError("the controller did not settle: \(await queue.depth) queued, \(await queue.processingCount) in hand, "
                    + "\(await queue.delayedCount) waiting for a requeue, \(CallStatistics.snapshot().calls - calls) libvirt calls in the last second")
            }
            try await Task.sleep(for: .milliseconds(50))
            let now = CallStatistics.snapshot().calls
            let queue = controller.queue
            let busy = await queue.depth + queue.processingCount + queue.delayedCount > 0
            if busy || now != calls {
                calls = now
                since = clock.now
            }
        }
    }
}
