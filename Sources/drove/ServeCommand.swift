import ArgumentParser
import DroveAPI
import DroveController
import DroveManifest
import DrovePlan
import DroveServer
import DroveStore
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

    @Option(help: "The address to listen on; anything but loopback needs --token-file.")
    var host = ServerConfiguration.defaultHost

    @Option(help: "The port to listen on.")
    var port = ServerConfiguration.defaultPort

    @Option(help: "A file holding the bearer token every mutation must present.")
    var tokenFile: String?

    @Option(help: "How often every VM set is looked at again even without a trigger (e.g. 30s).")
    var resync: DurationOption = DurationOption(argument: "30s")!

    @Option(help: "VM sets reconciled at once.")
    var workers = 4

    @OptionGroup(title: "What applied manifests may name") var policyOptions: PolicyOptions

    func run() async throws {
        var logger = Logger(label: "drove")
        logger.logLevel = .info
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let store = try Store(path: "\(dataDir)/drove.sqlite", logger: logger)

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(DroveMetrics.factory(registry: registry))
        // The controller reads files on its own machine for whoever may apply: none unless named.
        let policy = policyOptions.policy(templatesByDefault: .nowhere)
        let controller = Controller(store: store, options: Controller.Options(workers: workers, resync: .init(interval: resync.duration),
                                                                              policy: policy),
                                    logger: logger)
        let configuration = ServerConfiguration(host: host, port: port, tokenFile: tokenFile, manifestPolicy: policy)
        let application: any Service
        do {
            application = try buildApplication(configuration: configuration, store: store, controller: controller,
                                               registry: registry, logger: logger)
        } catch {
            Terminal.error("error: \(error)")
            throw ExitCode(2)
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: ControllerService(controller: controller)), .init(service: application)],
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

extension Controller: ControllerHandle {
    /// Every Drove VM of a stored set on the hosts that answer, as observed now.
    public func vms() async -> [VMSummary] {
        let sets = Set((try? await store.objects(kind: .vmSet))?.map(\.reference.name) ?? [])
        let fleet = await fleet.connections().observe()
        return fleet.hosts.values.flatMap { host in
            host.vms.values.filter { sets.contains($0.set) }.map { vm in
                VMSummary(name: vm.name, vmSet: vm.set, ordinal: vm.ordinal, host: host.name,
                          phase: vm.state == .running ? .running : .stopped, ready: vm.ready,
                          templateDigest: vm.templateDigest)
            }
        }.sorted { ($0.vmSet, $0.ordinal) < ($1.vmSet, $1.ordinal) }
    }
}
