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

/// `drove serve`: the controller and its HTTP API in one process, stopped gracefully by
/// SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the controller that keeps the fleet matching the applied manifests, and its API.")

    @Option(help: "Where the state database lives.")
    var dataDir = "/var/lib/drove/state"

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
        let store = try Store(path: "\(dataDir)/drove.sqlite", logger: logger)

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
        let controller = Controller(store: store, options: Controller.Options(workers: workers, resync: .init(interval: resync.duration),
                                                                              policy: policy),
                                    logger: logger)
        let gitSync = GitSync(store: store, options: GitSync.Options(directory: "\(dataDir)/gitsources", policy: policy), logger: logger)
        var configuration = ServerConfiguration(host: host, port: port, tokenFile: tokenFile, manifestPolicy: policy,
                                                tlsCertificate: tlsCert, tlsKey: tlsKey)
        configuration.maxTemplateBytes = maxTemplateSize.bytes
        configuration.idleTimeout = idleTimeout.duration
        let application: any Service
        do {
            application = try buildApplication(configuration: configuration, store: store,
                                               controller: ServeHandle(controller: controller, gitSync: gitSync),
                                               registry: registry, logger: logger, templateStore: templateStore,
                                               onListening: { [host, port] in SystemdNotify.send("READY=1\nSTATUS=listening on \(host):\(port)") })
        } catch {
            Terminal.error("error: \(error)")
            throw ExitCode(2)
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: ControllerService(controller: controller)), .init(service: GitSyncService(gitSync: gitSync)),
                       .init(service: TemplateGarbageCollector(blobs: templateStore, store: store, logger: logger)),
                       .init(service: application), .init(service: SystemdStoppingService())],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try store.close()
    }
}

/// The controller as a service: it runs until graceful shutdown, then finishes its keys.
struct ControllerService: Service {
    let controller: Controller

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await controller.run()
        }
    }
}

/// The git syncs as a service, stopped like the controller.
struct GitSyncService: Service {
    let gitSync: GitSync

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await gitSync.run()
        }
    }
}

/// The API's view of the controller process: enqueue, plan and the VM list from the
/// controller (its fleet view), syncs from GitSync.
struct ServeHandle: ControllerHandle {
    let controller: Controller
    let gitSync: GitSync

    func enqueue(_ reference: ObjectReference) async { await controller.enqueue(reference) }
    func plan(for manifest: Manifest) async throws -> Plan { try await controller.plan(for: manifest) }
    func vms() async -> [VMSummary] { await controller.vms() }
    func consoleLog(vm: String, from offset: UInt64) async throws -> APIConsoleLog? { try await controller.consoleLog(vm: vm, from: offset) }
    func requestSync(gitSource name: String) async throws -> Date? { try await gitSync.requestSync(name) }
}
