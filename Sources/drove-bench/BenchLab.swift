import DroveEngine
import DroveHost
import DroveLab
import DroveManifest
import DrovePlan
import Foundation
import Libvirt
import Logging
import Synchronization

/// The benchmark's lab: three libvirt hosts it starts itself, and everything it does to them
/// besides the measured deployments (manifests, clean-up between runs).
struct BenchLab: Sendable {
    let lab: Lab
    let hosts: [LabHost]
    /// The Host objects every benchmark manifest starts with (see `hostsYAML`).
    let hostsYAML: String
    let manifestHosts: [DroveManifest.Host]
    /// Whether every host runs under its reaper (see `LabReaper`), so exited QEMU processes are
    /// collected at once, as on a host whose init is systemd.
    let promptReaping: Bool

    /// Takes down whatever runs in `directory` (it is the benchmark's own), then starts `count`
    /// fresh hosts.
    static func start(directory: URL, count: Int) async throws -> BenchLab {
        let lab = Lab(directory: directory, logger: Logger(label: "drove-bench.lab"))
        if !lab.hosts().isEmpty {
            Progress.say("taking down the lab already in \(directory.path)")
            try await lab.down()
        }
        Progress.say("starting \(count) lab hosts in \(directory.path)")
        let hosts = try await lab.up(hosts: count)
        let yaml = hostsYAML(hosts)
        let reaping = hosts.allSatisfy {
            LabProcesses.isAlive(pid: LabProcesses.readPidFile($0.layout.reaperPidFile), program: .reaper)
        }
        if !reaping { Progress.say("warning: the lab's hosts run without their reapers: every domain destroy waits for PID 1") }
        return BenchLab(lab: lab, hosts: hosts, hostsYAML: yaml, manifestHosts: try Manifests.load(yaml).hosts, promptReaping: reaping)
    }

    /// The lab's hosts as `drove lab up` declares them, with more vCPU overcommit: the guests
    /// idle in their BIOS, and 30 one-vCPU guests on 3 hosts of 2 CPUs need 5 vCPUs per CPU
    /// (the default allows 4).
    static func hostsYAML(_ hosts: [LabHost]) -> String {
        hosts.map { host in
            """
            apiVersion: drove/v1
            kind: Host
            metadata: { name: \(host.name), labels: { lab: "true" } }
            spec:
              uri: "\(host.uri)"
              pool: \(host.pool)
              domainType: \(host.domainType)
              overcommit: { cpu: 16 }
            """
        }.joined(separator: "\n---\n")
    }

    /// Takes down the lab in `directory`, whatever state it is in.
    static func stop(directory: URL) async {
        let lab = Lab(directory: directory, logger: Logger(label: "drove-bench.lab"))
        guard !lab.hosts().isEmpty else { return }
        do {
            try await lab.down()
            Progress.say("lab in \(directory.path) is down")
        } catch {
            Progress.say("warning: taking the lab down failed: \(error) (run: drove lab down --dir \(directory.path))")
        }
    }

    // MARK: Manifests

    /// The lab's hosts plus these templates and sets, read by Drove's own loader.
    func manifest(templates: [TemplateDecl], sets: [SetDecl] = []) throws -> Manifest {
        let documents = [hostsYAML] + templates.map(\.yaml) + sets.map(\.yaml)
        return try Manifests.load(documents.joined(separator: "\n---\n"))
    }

    // MARK: Clean-up between runs (not measured)

    /// Destroys and undefines every domain on every lab host and deletes every Drove disk, and
    /// the template copies too when asked. Everything in this lab is the benchmark's.
    func clean(templates: Bool = false) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for host in hosts {
                group.addTask { try await Self.clean(uri: host.uri, templates: templates) }
            }
            try await group.waitForAll()
        }
    }

    private static func clean(uri: String, templates: Bool) async throws {
        let connection = try await Connection.open(uri, lanes: 8)
        do {
            let domains = try await connection.listAllDomains()
            try await forEach(domains, width: 8) { domain in
                if try await domain.isActive() {
                    do { try await domain.destroy() } catch let error as LibvirtError where error.isOperationInvalid {}
                }
                try await domain.undefine()
            }
            if let pool = try await connection.storagePool(named: "default") {
                let volumes = try await pool.listAllVolumes().filter {
                    $0.name.hasPrefix("drove-vm-") || (templates && ($0.name.hasPrefix("drove-tpl-") || $0.name.hasPrefix("drove-gold-")))
                }
                try await forEach(volumes, width: 8) { try await $0.delete() }
            }
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Drove template copies present on each host: volume name and allocation.
    func templateCopies() async throws -> [String: [String: VolumeInfo]] {
        var result: [String: [String: VolumeInfo]] = [:]
        for host in hosts {
            let connection = try await Connection.open(host.uri, lanes: 2)
            do {
                if let pool = try await connection.storagePool(named: "default") {
                    for volume in try await pool.listAllVolumes() where volume.name.hasPrefix("drove-tpl-") {
                        result[host.name, default: [:]][volume.name] = try await volume.info()
                    }
                }
                await connection.close()
            } catch {
                await connection.close()
                throw error
            }
        }
        return result
    }
}

/// Runs `body` over `items`, at most `width` at once; the first error wins.
func forEach<T: Sendable>(_ items: [T], width: Int, _ body: @escaping @Sendable (T) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = 0
        while next < min(width, items.count) {
            let item = items[next]
            group.addTask { try await body(item) }
            next += 1
        }
        while try await group.next() != nil {
            if next < items.count {
                let item = items[next]
                group.addTask { try await body(item) }
                next += 1
            }
        }
    }
}

enum Manifests {
    static func load(_ yaml: String) throws -> Manifest {
        do {
            return try ManifestLoader(policy: ManifestPolicy(testDriver: true)).load(yaml: yaml, name: "<drove-bench>")
        } catch {
            throw BenchError("a benchmark manifest is invalid:\n" + error.diagnostics.map(\.description).joined(separator: "\n"))
        }
    }
}

/// A Template object as the benchmark declares it.
struct TemplateDecl: Sendable {
    enum Precopy: Sendable {
        /// The default: copy to every host a set using it may land on, in the pass that needs it.
        case eager
        /// Copy only where a clone is placed.
        case onDemand
        /// Also copy to every lab host whether or not a set needs it: pre-copy ahead of need.
        case ahead
    }

    var name: String
    var path: String
    var format: String
    var precopy: Precopy

    var yaml: String {
        let precopyYAML = switch precopy {
        case .eager: ""
        case .onDemand: "\n  precopy: { policy: onDemand }"
        case .ahead: "\n  precopy: { hostSelector: { lab: \"true\" } }"
        }
        return """
            apiVersion: drove/v1
            kind: Template
            metadata: { name: \(name) }
            spec:
              source: { path: "\(path)" }
              format: \(format)\(precopyYAML)
            """
    }
}

/// A VMSet as the benchmark declares it: `replicas` small guests spread over the hosts.
struct SetDecl: Sendable {
    var name: String
    var replicas: Int
    var template: String
    var clone: CloneMode
    var memoryMiB: Int

    var yaml: String {
        """
        apiVersion: drove/v1
        kind: VMSet
        metadata: { name: \(name) }
        spec:
          replicas: \(replicas)
          template: \(template)
          clone: \(clone.rawValue)
          resources: { vcpus: 1, memory: \(memoryMiB)Mi }
        """
    }
}

// MARK: Deploying through the engine

/// What a converge run reported, for the tables: the last transfer figures of each template
/// copy and how long each kind of action took.
final class RunRecorder: Sendable {
    struct State {
        var transfers: [Int: (host: String, stats: TransferStats)] = [:]
        var actionSeconds: [String: [Double]] = [:]
        var passes = 0
    }

    let state = Mutex(State())

    func handle(_ event: ConvergeEvent) {
        switch event {
        case let .execution(.progress(action, stats)):
            state.withLock { $0.transfers[action.id] = (action.host, stats) }
        case let .execution(.succeeded(action, duration)):
            state.withLock { $0.actionSeconds[action.verb, default: []].append(seconds(duration)) }
        case let .observed(pass, _):
            state.withLock { $0.passes = max($0.passes, pass) }
        default:
            break
        }
    }

    var transfers: [(host: String, stats: TransferStats)] { state.withLock { Array($0.transfers.values) } }
    var actionSeconds: [String: [Double]] { state.withLock { $0.actionSeconds } }
}

enum Deploy {
    /// What `drove up` does once the manifests are read and the templates hashed: connect to
    /// every host through an engine, converge, close. Throws unless every set converged.
    static func converge(_ desired: DesiredState, global: Int = 32, goal: Converger.Goal = .running,
                         recorder: RunRecorder? = nil) async throws -> ConvergeResult {
        let engine = Engine(limits: ExecutionLimits(global: global))
        let connections = await engine.connect(desired.manifest.hosts)
        if !connections.unreachable.isEmpty {
            await connections.close()
            throw BenchError("unreachable hosts: \(connections.unreachable)")
        }
        let result = await Converger(engine: engine, connections: connections)
            .converge(desired, timeout: .seconds(3600), goal: goal) { recorder?.handle($0) }
        await connections.close()
        guard result.converged else {
            let failures = (result.failures.prefix(5).map(\.description) + result.unschedulable.prefix(2).map { "\($0.vm): \($0.reason)" })
                .joined(separator: "; ")
            throw BenchError("Drove did not converge: \(result.stopReason ?? "?") \(failures)")
        }
        return result
    }
}

/// Template images read once (hashing a 2 GiB file takes seconds) and reused by every manifest.
final class ImageCache: Sendable {
    private let images = TemplateImages()

    /// The images of `manifest`'s templates, hashing only files not seen before.
    func images(for manifest: Manifest) async throws -> [String: TemplateImage] {
        let read = await images.images(for: manifest.templates)
        if let failure = read.failures.first { throw BenchError("\(failure)") }
        return read.images
    }

    func desired(_ manifest: Manifest, removing: Set<String> = [], prune: TemplatePruning = .none) async throws -> DesiredState {
        DesiredState(manifest: manifest, images: try await images(for: manifest), removing: removing, pruneTemplates: prune)
    }

}
