import ArgumentParser
import DroveAPI
import DroveController
import DroveGitOps
import DroveManifest
import DrovePlan
import DroveServer
import DroveStore
import DroveTemplateStore
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization

/// `drove serve`: the controller and its HTTP API in one process, stopped gracefully by
/// SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the controller that keeps the fleet matching the applied manifests, and its API.")

    @Option(help: "Where the state lives: the SQLite store (unless --store says otherwise), pushed templates, git mirrors.")
    var dataDir = "/var/lib/drove/state"

    @Option(help: ArgumentHelp("""
        The store: sqlite:PATH (default: DATA_DIR/drove.sqlite, one replica) or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE         (several replicas share it and elect one leader; the password may come from PGPASSWORD instead).
        """, valueName: "location"))
    var store: String?

    @Option(help: "This replica's identity in leader election (default: the host name and a digest of --data-dir, so a restarted replica takes its own lease back at once).")
    var replicaID: String?

    @Option(help: "The URL other replicas and users reach this replica's API at (default: from --host and --port).")
    var advertiseAddress: String?

    @Option(help: "The address to listen on; anything but loopback needs --token-file, --tls-cert and --tls-key.")
    var host = ServerConfiguration.defaultHost

    @Option(help: "The port to listen on.")
    var port = ServerConfiguration.defaultPort

    @Option(help: "A file holding the admin's bearer token; with it, mutations need a token (this one or a user's).")
    var tokenFile: String?

    @Option(help: ArgumentHelp("The server's TLS certificate chain (PEM).", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The private key of --tls-cert (PEM).", valueName: "path"))
    var tlsKey: String?

    @Option(help: "How often every VM set is looked at again even without a trigger (e.g. 30s).")
    var resync: DurationOption = DurationOption(argument: "30s")!

    @Option(help: "VM sets reconciled at once.")
    var workers = 4

    @Option(help: ArgumentHelp("The largest template image a push may send: bytes, or with Ki/Mi/Gi/Ti (binary) or k/M/G/T (decimal).",
                               valueName: "size"))
    var maxTemplateSize: SizeOption = SizeOption(argument: "20Gi")!

    @Option(help: "How long a connection may send nothing while none of its requests is being answered (slow or stalled clients) before it is closed.")
    var idleTimeout: DurationOption = DurationOption(argument: "30s")!

    @OptionGroup(title: "What applied manifests may name") var policyOptions: PolicyOptions

    func run() async throws {
        var logger = Logger(label: "drove")
        logger.logLevel = .info
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        // One process per data directory: that is what makes the default identity safe.
        let dataLock: DataDirectoryLock
        do {
            dataLock = try DataDirectoryLock(directory: dataDir)
        } catch {
            Terminal.error("error: \(error)")
            throw ExitCode(2)
        }
        defer { dataLock.release() }
        let store: Store
        do {
            let location = try StoreLocation(parsing: self.store ?? "sqlite:\(dataDir)/drove.sqlite")
            store = try await Store.open(location, logger: logger)
        } catch {
            Terminal.error("error: \(error)")
            throw ExitCode(2)
        }
        // Closed on every way out, errors included.
        defer { try? store.close() }

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(DroveMetrics.factory(registry: registry))
        // Pushed template images, content-addressed; blobs no Template names are collected.
        let templateStore: TemplateBlobStore
        do {
            templateStore = try TemplateBlobStore(directory: "\(dataDir)/templates", logger: logger)
        } catch {
            Terminal.error("error: the template store: \(error)")
            throw ExitCode(2)
        }
        // The controller reads files and repositories on its own machine for whoever may apply:
        // none unless named. Its own template store it always reads.
        var policy = policyOptions.policy(templatesByDefault: .nowhere, repositoriesByDefault: .nowhere)
        policy.templateStore = templateStore.directory
        let scheme = tlsCert == nil ? "http" : "https"
        let identity = replicaID ?? DataDirectoryLock.identity(dataDirectory: dataDir)
        let elector = LeaderElector(store: store, identity: identity, address: advertiseAddress ?? "\(scheme)://\(host):\(port)", logger: logger)
        let handle = ServeHandle(store: store, elector: elector)
        // What only the leader runs, made anew each time this replica takes the lease: a new
        // controller observes every host before it plans.
        let controllerOptions = Controller.Options(workers: workers, resync: .init(interval: resync.duration), policy: policy)
        let gitSyncOptions = GitSync.Options(directory: "\(dataDir)/gitsources", policy: policy)
        let lead: @Sendable () async -> Void = { [store, logger] in
            let controller = Controller(store: store, options: controllerOptions, logger: logger)
            let gitSync = GitSync(store: store, options: gitSyncOptions, logger: logger)
            handle.led(by: controller, gitSync: gitSync)
            defer { handle.led(by: nil, gitSync: nil) }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await controller.run() }
                group.addTask { await gitSync.run() }
            }
        }
        var configuration = ServerConfiguration(host: host, port: port, tokenFile: tokenFile, manifestPolicy: policy,
                                                tlsCertificate: tlsCert, tlsKey: tlsKey)
        configuration.maxTemplateBytes = maxTemplateSize.bytes
        configuration.idleTimeout = idleTimeout.duration
        let application: any Service
        do {
            application = try buildApplication(configuration: configuration, store: store,
                                               controller: handle,
                                               registry: registry, logger: logger, templateStore: templateStore,
                                               onListening: { [host, port] in SystemdNotify.send("READY=1\nSTATUS=listening on \(host):\(port)") })
        } catch {
            Terminal.error("error: \(error)")
            throw ExitCode(2)
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: ElectionService(elector: elector, lead: lead)),
                       .init(service: TemplateGarbageCollector(blobs: templateStore, store: store, logger: logger)),
                       .init(service: application), .init(service: SystemdStoppingService())],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Leader election as a service: this replica campaigns, and leads (runs the controller and
/// the git syncs) while it holds the lease, until graceful shutdown gives the lease up.
struct ElectionService: Service {
    let elector: LeaderElector
    let lead: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await elector.run(lead: lead)
        }
    }
}

/// The API's view of this replica: while it leads, enqueue, plan, the VM list and console
/// logs come from its controller (its fleet view), syncs from its GitSync; a follower observes
/// no host, and answers those with 503, naming the leader.
final class ServeHandle: ControllerHandle {
    let store: Store
    let elector: LeaderElector
    private let leading = Mutex<(controller: Controller, gitSync: GitSync)?>(nil)

    init(store: Store, elector: LeaderElector) {
        self.store = store
        self.elector = elector
    }

    func led(by controller: Controller?, gitSync: GitSync?) {
        leading.withLock { $0 = controller.flatMap { controller in gitSync.map { (controller, $0) } } }
    }

    private func leader() throws(APIError) -> (controller: Controller, gitSync: GitSync) {
        if let leading = leading.withLock({ $0 }) { return leading }
        let status = elector.status
        let holder = status.lease.flatMap { $0.expired ? nil : $0.holder }
        throw APIError(.serviceUnavailable, "this replica (\(status.identity)) does not lead, and only the leader observes hosts; "
            + (holder.map { "ask the leader, \($0) (drove get controllers shows its address)" } ?? "no replica leads right now; try again shortly"))
    }

    // A follower has no queue: the leader sees the store's changes itself.
    func enqueue(_ reference: ObjectReference) async { await leading.withLock({ $0 })?.controller.enqueue(reference) }
    func plan(for manifest: Manifest) async throws -> Plan { try await leader().controller.plan(for: manifest) }
    func vms() async throws -> [VMSummary] { try await leader().controller.vms() }
    func consoleLog(vm: String, from offset: UInt64) async throws -> APIConsoleLog? { try await leader().controller.consoleLog(vm: vm, from: offset) }
    func requestSync(gitSource name: String) async throws -> Date? { try await leader().gitSync.requestSync(name) }

    func health() async -> APIHealth {
        let status = elector.status
        let lease = status.lease.flatMap { $0.expired ? nil : $0 }
        return APIHealth(identity: status.identity, role: status.isLeader ? .leader : .follower, leader: lease?.holder,
                         leaseAgeSeconds: lease?.age)
    }

    func replicas() async throws -> APIControllerList {
        let status = elector.status
        let lease = try await store.lease("controller")
        let (records, now) = try await store.controllers()
        let leader = lease.flatMap { $0.expired ? nil : $0.holder }
        return APIControllerList(
            items: records.map { APIController(id: $0.id, address: $0.address, leader: $0.id == leader, startedAt: $0.startedAt,
                                               lastSeenSecondsAgo: max(0, now.timeIntervalSince($0.seenAt))) },
            leader: leader, leaseAgeSeconds: lease?.age, leaseTransitions: lease?.transitions, answeredBy: status.identity)
    }
}
