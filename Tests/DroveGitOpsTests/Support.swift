import DroveController
import DroveEngine
import DroveGitOps
import DroveManifest
import DrovePlan
import DroveStore
import DroveTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// Runs the test's own git (a person's git: an identity, `main` as the first branch), never
/// Drove's; returns its standard output, trimmed.
@discardableResult
func git(_ arguments: [String], in directory: URL) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
    process.arguments = ["-c", "user.name=Drove Tests", "-c", "user.email=tests@drove.invalid", "-c", "init.defaultBranch=main",
                         "-c", "commit.gpgSign=false"] + arguments
    process.currentDirectoryURL = directory
    process.environment = ["PATH": "/usr/bin:/bin", "HOME": directory.path, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"]
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let problem = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw GitFailed(arguments: arguments, message: String(decoding: problem, as: UTF8.self))
    }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

struct GitFailed: Error, CustomStringConvertible {
    var arguments: [String]
    var message: String
    var description: String { "git \(arguments.joined(separator: " ")): \(message)" }
}

/// A repository people push to: a bare `origin.git`, served to the controller over `file://`,
/// and a working clone the test commits in and pushes from.
struct Upstream: Sendable {
    let origin: URL
    let work: URL

    init(in directory: URL, name: String = "fleet") throws {
        origin = directory.appendingPathComponent("\(name).git")
        work = directory.appendingPathComponent("\(name)-work")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try git(["init", "--quiet", "--bare", origin.path], in: directory)
        try git(["init", "--quiet", work.path], in: directory)
        try git(["remote", "add", "origin", origin.path], in: work)
    }

    var url: String { "file://" + origin.path }

    func write(_ relative: String, _ text: String) throws {
        let file = work.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
    }

    func remove(_ relative: String) throws {
        try FileManager.default.removeItem(at: work.appendingPathComponent(relative))
    }

    /// Commits everything and pushes it to `main`; returns the commit.
    @discardableResult
    func commit(_ message: String, push: Bool = true) throws -> String {
        try git(["add", "-A"], in: work)
        try git(["commit", "--quiet", "--allow-empty", "-m", message], in: work)
        if push { try git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], in: work) }
        return try git(["rev-parse", "HEAD"], in: work)
    }
}

/// A controller over in-memory hosts and GitSync beside it, over one store in a directory of
/// its own: the controller process of `drove serve`, without libvirt or QEMU.
final class GitOpsHarness: Sendable {
    struct Running: Sendable {
        var controller: Controller
        var gitSync: GitSync
        var task: Task<Void, Never>
    }

    let directory: URL
    let store: Store
    let hosts: [FakeHost]
    let templateFile: URL
    /// Where secret files may lie (`--credentials-dir`).
    let credentials: URL
    /// Where the test's repositories are (`--repository-dir`).
    let repositories: URL
    let policy: ManifestPolicy
    private let running: Mutex<Running?> = Mutex(nil)
    /// How hosts are reached: the fake hosts, or libvirt for the lab tests.
    let connector: any HostConnector

    init(hosts: [FakeHost], plainHTTP: Bool = false, connector: (any HostConnector)? = nil) throws {
        self.connector = connector ?? FakeConnector(hosts)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("drove-gitops-\(UUID().uuidString.prefix(8))")
        credentials = directory.appendingPathComponent("credentials")
        repositories = directory.appendingPathComponent("repositories")
        for made in [credentials, repositories] { try FileManager.default.createDirectory(at: made, withIntermediateDirectories: true) }
        templateFile = directory.appendingPathComponent("tiny.img")
        try Data((0..<4096).map { UInt8($0 % 251) }).write(to: templateFile)
        store = try Store(path: directory.appendingPathComponent("state/drove.sqlite").path)
        self.hosts = hosts
        policy = ManifestPolicy(testDriver: true, credentialFiles: .under([credentials.path]), templateFiles: .anywhere,
                                localRepositories: .under([repositories.path]), plainHTTPGit: plainHTTP)
        start()
    }

    var controller: Controller { running.withLock { $0!.controller } }
    var gitSync: GitSync { running.withLock { $0!.gitSync } }

    /// Starts a controller and GitSync, as `drove serve` does, over the same store and data
    /// directory as any before them.
    func start() {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let controller = Controller(
            store: store,
            options: Controller.Options(workers: 4, resync: .init(interval: .seconds(3600)), progressRequeue: .milliseconds(50),
                                        limits: ExecutionLimits(global: 64, attempts: 3, backoff: .milliseconds(5)), policy: policy),
            connector: connector, logger: logger)
        let gitSync = GitSync(store: store, options: GitSync.Options(directory: directory.appendingPathComponent("state/gitsources").path,
                                                                     policy: policy, remoteTimeout: .seconds(30)), logger: logger)
        let task = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await controller.run() }
                group.addTask { await gitSync.run() }
            }
        }
        running.withLock { $0 = Running(controller: controller, gitSync: gitSync, task: task) }
    }

    /// Stops the controller and GitSync (the store stays open).
    func halt() async {
        guard let task = running.withLock({ $0?.task }) else { return }
        task.cancel()
        await task.value
    }

    /// Runs a test's body, records what it threw, and stops everything and removes its files.
    func run(_ body: () async throws -> Void) async {
        do {
            try await body()
        } catch is CancellationError {
        } catch {
            Issue.record(error)
        }
        await halt()
        try? store.close()
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: Manifests

    func hostsYAML() -> String {
        hosts.map { """
            apiVersion: drove/v1
            kind: Host
            metadata: { name: \($0.name) }
            spec: { uri: "test:///default", domainType: qemu, maxParallel: 4 }
            """ }.joined(separator: "\n---\n")
    }

    func templateYAML() -> String {
        """
        apiVersion: drove/v1
        kind: Template
        metadata: { name: tiny }
        spec: { source: { path: "\(templateFile.path)" }, format: raw, readiness: running }
        """
    }

    func setYAML(_ name: String, replicas: Int, memory: String = "64Mi", maxUnavailable: Int = 1) -> String {
        """
        apiVersion: drove/v1
        kind: VMSet
        metadata: { name: \(name) }
        spec: { replicas: \(replicas), template: tiny, resources: { memory: \(memory) }, updateStrategy: { maxUnavailable: \(maxUnavailable) } }
        """
    }

    func sourceYAML(_ name: String = "fleet", url: String, path: String = "manifests", prune: Bool = true, extra: String = "") -> String {
        """
        apiVersion: drove/v1
        kind: GitSource
        metadata: { name: \(name) }
        spec:
          url: "\(url)"
          path: \(path)
          interval: 1h
          prune: \(prune)
        \(extra)
        """
    }

    /// Applies documents by hand, as `drove apply` would; `alongside` are stored objects the
    /// documents refer to (checked with them, not applied again), as the API does.
    func apply(_ documents: [String], alongside: [String] = []) async throws {
        let text = (alongside + documents).joined(separator: "\n---\n")
        let source = ManifestSource(name: "by-hand.yaml", text: text, baseDirectory: directory.path)
        let manifest = try ManifestLoader(policy: policy).load(sources: [source])
        let standing = ManifestLoader.declarations(in: ManifestFiles(entries: [
            .read(ManifestSource(name: "stored.yaml", text: alongside.joined(separator: "\n---\n"), baseDirectory: directory.path)),
        ])).objects.map(\.reference)
        _ = try await store.apply(try AppliedObject.objects(in: manifest, sources: [source]).filter { !standing.contains($0.reference) })
    }

    // MARK: Looking

    func git(_ source: String = "fleet") async -> GitSourceStatus? {
        try? await store.status(kind: .gitSource, name: source)?.details.git
    }

    func ready(_ source: String = "fleet") async -> Condition? {
        try? await store.status(kind: .gitSource, name: source)?.condition(.ready)
    }

    func object(_ kind: ObjectKind, _ name: String) async -> StoredObject? {
        try? await store.object(kind: kind, name: name)
    }

    /// Waits until `condition` holds, or fails the test naming `what`.
    func wait(_ what: String, timeout: Duration = .seconds(20), _ condition: () async -> Bool) async throws {
        try await waitUntil(what, timeout: timeout, condition)
    }

    /// Asks for a sync and waits until one that started after the request has settled on
    /// `revision`: applied, or refused.
    func sync(_ source: String = "fleet", until revision: String) async throws {
        let asked = try #require(try await gitSync.requestSync(source))
        try await wait("\(source) synced \(revision.prefix(12))") {
            guard let git = await git(source), let last = git.lastSyncAt, last >= asked else { return false }
            return git.attemptedRevision == revision || git.appliedRevision == revision
        }
    }

    func isReady(_ set: String) async -> Bool {
        (try? await store.status(kind: .vmSet, name: set))?.condition(.ready)?.status == .true
    }

    func vms(of set: String) -> [ObservedVM] {
        hosts.flatMap { $0.state.withLock { Array($0.vms.values) } }.filter { $0.set == set }
    }

    func performed() -> Int {
        hosts.map { $0.state.withLock { $0.performed.count } }.reduce(0, +)
    }
}
