import DroveEngine
import DroveHost
import DroveLab
import DroveManifest
import DrovePlan
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Libvirt
import Synchronization

/// Figure 6, time to ready: N guests of the tiny template (a real kernel and init that read
/// their NoCloud seed and then open the agent channel) deployed through the engine onto the 3
/// lab hosts, from the start of the deployment until the first and the last guest is ready,
/// with and without boot admission (Host `maxBooting`); and the QEMU CPU-seconds one boot
/// costs with the lean device model Drove defines against the one it defined before (a USB
/// controller, VNC graphics and a video card more).
struct TimeToReadyFigure {
    struct Sample: Codable, Sendable {
        var firstReadySeconds: Double
        var allReadySeconds: Double
        /// QEMU CPU time (user + system) of each guest at the moment it said it was ready, averaged.
        var cpuSecondsPerBoot: Double
    }

    struct Row: Codable, Sendable {
        var vms: Int
        /// Guests booting at once per host; nil for no limit.
        var maxBooting: Int?
        var deviceModel: String
        var firstReadySeconds: Summary
        var allReadySeconds: Summary
        var cpuSecondsPerBoot: Summary
        var samples: [Sample]
    }

    struct Result: Codable, Sendable {
        var hosts: Int
        var memoryMiB: Int
        var rows: [Row]
    }

    let lab: BenchLab
    let options: BenchOptions
    let images: ImageCache
    let template: URL

    static let memoryMiB = 96
    /// Limits tried at the larger N; the default (one per host CPU) was chosen from them.
    static let limits: [Int?] = [nil, 2, 4, 8]

    func run() async throws -> Result {
        var rows: [Row] = []
        let decl = TemplateDecl(name: "tiny", path: template.path, format: "qcow2", precopy: .ahead)
        _ = try await Deploy.converge(try await images.desired(try lab.manifest(templates: [decl]))) // copies, not measured
        guard let image = try await images.images(for: try lab.manifest(templates: [decl]))["tiny"] else {
            throw BenchError("the tiny template \(template.path) could not be read")
        }

        for model in DeviceModel.allCases {
            let samples = try await repeated("device model \(model.rawValue), N=\(options.vms), no admission") {
                try await handBoot(vms: options.vms, image: image, model: model)
            }
            rows.append(row(vms: options.vms, maxBooting: nil, model: model, samples))
        }
        for vms in [options.vms, options.vmsLarge].uniqued() {
            for limit in vms == options.vmsLarge ? Self.limits : [nil, ProcessInfo.processInfo.activeProcessorCount] {
                let samples = try await repeated("N=\(vms), maxBooting \(limit.map(String.init) ?? "none")") {
                    try await deploy(vms: vms, maxBooting: limit, template: decl)
                }
                rows.append(row(vms: vms, maxBooting: limit, model: .lean, samples))
            }
        }
        try await lab.clean(templates: true)
        return Result(hosts: lab.hosts.count, memoryMiB: Self.memoryMiB, rows: rows)
    }

    private func row(vms: Int, maxBooting: Int?, model: DeviceModel, _ samples: [Sample]) -> Row {
        Row(vms: vms, maxBooting: maxBooting, deviceModel: model.rawValue,
            firstReadySeconds: Summary(samples.map(\.firstReadySeconds)), allReadySeconds: Summary(samples.map(\.allReadySeconds)),
            cpuSecondsPerBoot: Summary(samples.map(\.cpuSecondsPerBoot)), samples: samples)
    }

    private func repeated(_ what: String, _ body: () async throws -> Sample) async throws -> [Sample] {
        var samples: [Sample] = []
        for run in 0..<options.runs {
            try await lab.clean()
            let sample = try await body()
            samples.append(sample)
            Progress.say("figure 6: \(what): first ready \(Format.seconds(sample.firstReadySeconds)), all ready \(Format.seconds(sample.allReadySeconds)), "
                + String(format: "%.2f CPU-s per boot", sample.cpuSecondsPerBoot) + " (run \(run + 1)/\(options.runs))")
        }
        try await lab.clean()
        return samples
    }

    /// Drove's own path (`drove up --for ready`): engine, converge, until every guest is ready.
    private func deploy(vms: Int, maxBooting: Int?, template: TemplateDecl) async throws -> Sample {
        let hosts = lab.hosts.map { host in
            """
            apiVersion: drove/v1
            kind: Host
            metadata: { name: \(host.name) }
            spec: { uri: "\(host.uri)", pool: \(host.pool), domainType: qemu, overcommit: { cpu: 16 }, maxBooting: \(maxBooting ?? ManifestLimits.maxBooting.upperBound) }
            """
        }
        let set = """
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: ready }
            spec: { replicas: \(vms), template: tiny, resources: { memory: \(Self.memoryMiB)Mi }, readiness: agent }
            """
        let manifest = try Manifests.load((hosts + [template.yaml, set]).joined(separator: "\n---\n"))
        let watch = try await ReadyWatch.start(lab)
        let start = ContinuousClock.now
        _ = try await Deploy.converge(try await images.desired(manifest), goal: .ready)
        return try await watch.sample(since: start, vms: vms)
    }

    /// The same libvirt work by hand, every guest started at once, with either device model.
    private func handBoot(vms: Int, image: TemplateImage, model: DeviceModel) async throws -> Sample {
        let watch = try await ReadyWatch.start(lab)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, host) in lab.hosts.enumerated() {
                let ordinals = Array(stride(from: index, to: vms, by: lab.hosts.count))
                group.addTask {
                    let connection = try await Connection.open(host.uri, lanes: 4)
                    do {
                        guard let pool = try await connection.storagePool(named: host.pool),
                              let backing = try await pool.volume(named: image.volume) else {
                            throw BenchError("\(host.name): the template copy \(image.volume) is missing")
                        }
                        let backingPath = backing.path
                        try await forEach(ordinals, width: 4) { ordinal in
                            let name = Naming.vmName(set: "hand", ordinal: ordinal)
                            let disk = try await pool.createVolume(xml: HandLoop.overlayXML(
                                name: Naming.diskVolume(vm: name), capacity: image.virtualBytes,
                                backingPath: backingPath, backingFormat: image.format))
                            let definition = DomainDefinition(
                                name: name, domainType: "qemu", vcpus: 1, memoryBytes: UInt64(Self.memoryMiB) << 20,
                                cpuMode: .default, diskPath: disk.path, diskFormat: "qcow2",
                                interfaces: [.init(attachment: .user, mac: MACAddress.derived(set: "hand", ordinal: ordinal, nic: 0))],
                                metadata: VMMetadata(set: "hand", ordinal: ordinal, specHash: "hand", templateDigest: image.digest,
                                                     volume: disk.name, vcpus: 1, memoryBytes: UInt64(Self.memoryMiB) << 20))
                            let domain = try await connection.defineDomain(xml: model.xml(definition))
                            try await domain.start()
                        }
                        await connection.close()
                    } catch {
                        await connection.close()
                        throw error
                    }
                }
            }
            try await group.waitForAll()
        }
        return try await watch.sample(since: start, vms: vms)
    }
}

/// The domain's devices: Drove's lean model, or what it defined before the trim.
enum DeviceModel: String, CaseIterable, Codable, Sendable {
    case lean
    /// A USB controller (libvirt's default for `pc`), VNC graphics on loopback and the video
    /// card libvirt adds with them.
    case before

    func xml(_ definition: DomainDefinition) throws -> String {
        let xml = definition.xml()
        guard self == .before else { return xml }
        let document = try XMLDocument(xmlString: xml)
        guard let devices = try document.nodes(forXPath: "/domain/devices").first as? XMLElement else { return xml }
        for node in try document.nodes(forXPath: "/domain/devices/controller[@type='usb']") { node.detach() }
        for child in ["<controller type='usb' model='piix3-uhci'/>", "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>",
                      "<video><model type='cirrus'/></video>"] {
            devices.addChild(try XMLElement(xmlString: child))
        }
        return document.xmlString
    }
}

/// Listens to every lab host for guests opening their agent channel, noting when each did and
/// its QEMU's CPU time then.
final class ReadyWatch: Sendable {
    private struct Ready { var at: ContinuousClock.Instant; var cpuSeconds: Double }
    private let ready = Mutex([String: Ready]())
    private let tasks: Mutex<[Task<Void, Never>]> = Mutex([])
    private let connections: [Connection]

    private init(connections: [Connection]) {
        self.connections = connections
    }

    static func start(_ lab: BenchLab) async throws -> ReadyWatch {
        var connections: [Connection] = []
        for host in lab.hosts { connections.append(try await Connection.open(host.uri, lanes: 2)) }
        let watch = ReadyWatch(connections: connections)
        for connection in connections {
            let events = try await connection.domainEvents()
            let task = Task {
                for await event in events where event.kind == .agentConnected {
                    let at = ContinuousClock.now
                    let cpu = QEMUProcess.cpuSeconds(guest: event.domainName) ?? 0
                    watch.ready.withLock { $0[event.domainName] = $0[event.domainName] ?? Ready(at: at, cpuSeconds: cpu) }
                }
            }
            watch.tasks.withLock { $0.append(task) }
        }
        return watch
    }

    /// Waits (at most 10 minutes) until `vms` guests said they are ready, then stops listening.
    func sample(since start: ContinuousClock.Instant, vms: Int) async throws -> TimeToReadyFigure.Sample {
        let deadline = ContinuousClock.now + .seconds(600)
        while ready.withLock({ $0.count }) < vms {
            guard ContinuousClock.now < deadline else { throw BenchError("only \(ready.withLock { $0.count }) of \(vms) guests became ready") }
            try await Task.sleep(for: .milliseconds(20))
        }
        for task in tasks.withLock({ $0 }) { task.cancel() }
        for connection in connections { await connection.close() }
        let all = ready.withLock { Array($0.values) }
        func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
        return TimeToReadyFigure.Sample(
            firstReadySeconds: seconds(all.map(\.at).min()! - start), allReadySeconds: seconds(all.map(\.at).max()! - start),
            cpuSecondsPerBoot: all.map(\.cpuSeconds).reduce(0, +) / Double(all.count))
    }
}

/// A lab guest's QEMU process, found by the `-name guest=<name>,` libvirt gives it (the lab's
/// hosts share this machine's process table).
enum QEMUProcess {
    static func cpuSeconds(guest: String) -> Double? {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for pid in entries where pid.allSatisfy(\.isNumber) {
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains("guest=\(guest),"),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
            return (user + system) / ticks
        }
        return nil
    }
}
