import DroveEngine
import DroveHost
import DroveLab
import DroveManifest
import DrovePlan
import Foundation
import Libvirt

/// Figure 3, Drove's own overhead: `drove up` of N VMs over the lab's hosts against a
/// hand-written parallel loop of the same libvirt calls, alternating in the same run; and
/// `drove down` of those VMs against the same loop's removal.
struct OverheadFigure {
    enum Variant: String, CaseIterable, Sendable {
        /// Drove's engine in this process: connect, converge (observe, plan, execute, observe), close.
        case engine
        /// The hand-written loop: per host, `maxParallel` workers each creating an overlay,
        /// defining and starting one VM after another.
        case loop
        /// The release `drove up` / `drove down` binary as a subprocess: also process start,
        /// manifest loading and template hashing.
        case cli
    }

    struct Result: Codable, Sendable {
        var vms: Int
        var hosts: Int
        var lanesPerHost: Int
        var template: String
        /// Whether the lab's hosts ran under their reapers, which collect exited QEMU processes at
        /// once (see `LabReaper`), rather than leaving them to the machine's PID 1.
        var promptReaping: Bool
        var up: [String: Summary]
        var down: [String: Summary]
        /// engine up / loop up, paired run by run.
        var upRatio: Summary
        /// engine down / loop down, paired run by run.
        var downRatio: Summary
        /// Mean time of each kind of action in the engine's up and down.
        var engineActionSeconds: [String: Double]
        /// libvirt calls the engine made per VM for up and down, and the loop's.
        var callsPerVM: [String: Double]
        /// CPU-seconds this process spent during each variant's up (the engine or the loop; the
        /// CLI runs in a process of its own and is not counted here).
        var upProcessCPUSeconds: [String: Summary]
        /// Busy share of the machine's CPUs during each variant's up.
        var upMachineCPUShare: [String: Summary]
    }

    let lab: BenchLab
    let options: BenchOptions
    let images: ImageCache
    let templateFile: URL
    let templateSize: Size

    var setName: String { "bench" }
    var templateName: String { "data-\(templateSize.slug)" }

    func run() async throws -> Result {
        var variants: [Variant] = [.engine, .loop]
        if options.droveBinary != nil { variants.append(.cli) }
        let template = TemplateDecl(name: templateName, path: templateFile.path, format: "qcow2", precopy: .eager)
        let set = SetDecl(name: setName, replicas: options.vmsLarge, template: templateName, clone: .linked, memoryMiB: options.memoryMiB)
        let upManifest = try lab.manifest(templates: [template], sets: [set])
        let upDesired = try await images.desired(upManifest)
        let image = upDesired.images[templateName]!
        // What `drove down -f` does: the sets go, and the manifests' own template copies with them.
        var downManifest = upManifest
        downManifest.vmSets = []
        let downDesired = try await images.desired(downManifest, removing: [setName], prune: .declared)

        // The CLI reads the same objects from files.
        let manifestDirectory = options.scratch.appendingPathComponent("figure3", isDirectory: true)
        try FileManager.default.createDirectory(at: manifestDirectory, withIntermediateDirectories: true)
        try Data(([lab.hostsYAML, template.yaml, set.yaml].joined(separator: "\n---\n") + "\n").utf8)
            .write(to: manifestDirectory.appendingPathComponent("bench.yaml"))

        var up = Samples()
        var down = Samples()
        var upRatios: [Double] = []
        var downRatios: [Double] = []
        let recorder = RunRecorder()
        var calls = Samples()
        var cpuSamples = Samples()
        try await lab.clean()
        for run in 0..<options.runs {
            var upTimes: [Variant: Double] = [:]
            var downTimes: [Variant: Double] = [:]
            for variant in variants.rotated(by: run) {
                // The template is on the hosts; nothing else is.
                try await ensureTemplate(template)
                try await lab.clean()
                let before = CallStatistics.snapshot()
                let cpuBefore = CPUMeter.read()
                let (upSeconds, _) = try await timed {
                    switch variant {
                    case .engine: _ = try await Deploy.converge(upDesired, recorder: recorder)
                    case .loop: try await HandLoop.up(lab: lab, vms: options.vmsLarge, set: setName, template: image, memoryMiB: options.memoryMiB)
                    case .cli: try await cli("up", manifestDirectory)
                    }
                }
                let middle = CallStatistics.snapshot()
                let cpu = CPUMeter.usage(from: cpuBefore, to: CPUMeter.read())
                cpuSamples.add("\(variant.rawValue)-process", cpu.processSeconds)
                cpuSamples.add("\(variant.rawValue)-machine", cpu.machineShare)
                let (downSeconds, _) = try await timed {
                    switch variant {
                    case .engine: _ = try await Deploy.converge(downDesired, recorder: recorder)
                    case .loop: try await HandLoop.down(lab: lab)
                    case .cli: try await cli("down", manifestDirectory)
                    }
                }
                let after = CallStatistics.snapshot()
                if variant != .cli {
                    calls.add("\(variant.rawValue)-up", Double(middle.since(before).calls) / Double(options.vmsLarge))
                    calls.add("\(variant.rawValue)-down", Double(after.since(middle).calls) / Double(options.vmsLarge))
                }
                upTimes[variant] = upSeconds
                downTimes[variant] = downSeconds
                up.add(variant.rawValue, upSeconds)
                down.add(variant.rawValue, downSeconds)
                Progress.say("figure 3: \(variant.rawValue): up \(options.vmsLarge) VMs \(Format.seconds(upSeconds)), down \(Format.seconds(downSeconds)) (run \(run + 1)/\(options.runs))")
            }
            upRatios.append(upTimes[.engine]! / upTimes[.loop]!)
            downRatios.append(downTimes[.engine]! / downTimes[.loop]!)
        }
        try await lab.clean()

        let actionMeans = recorder.actionSeconds.mapValues { $0.reduce(0, +) / Double($0.count) }
        return Result(
            vms: options.vmsLarge, hosts: lab.hosts.count, lanesPerHost: lab.manifestHosts.first?.spec.maxParallel ?? 0,
            template: "\(templateSize.label) of data, qcow2", promptReaping: lab.promptReaping,
            up: Dictionary(uniqueKeysWithValues: variants.map { ($0.rawValue, up.summary($0.rawValue)!) }),
            down: Dictionary(uniqueKeysWithValues: variants.map { ($0.rawValue, down.summary($0.rawValue)!) }),
            upRatio: Summary(upRatios), downRatio: Summary(downRatios), engineActionSeconds: actionMeans,
            callsPerVM: calls.values.mapValues { Summary($0).median },
            upProcessCPUSeconds: Dictionary(uniqueKeysWithValues: variants.map { ($0.rawValue, cpuSamples.summary("\($0.rawValue)-process")!) }),
            upMachineCPUShare: Dictionary(uniqueKeysWithValues: variants.map { ($0.rawValue, cpuSamples.summary("\($0.rawValue)-machine")!) }))
    }

    /// Puts the template on every host if `drove down` pruned it (not measured).
    private func ensureTemplate(_ template: TemplateDecl) async throws {
        var ahead = template
        ahead.precopy = .ahead
        _ = try await Deploy.converge(try await images.desired(try lab.manifest(templates: [ahead])))
    }

    private func cli(_ verb: String, _ directory: URL) async throws {
        guard let drove = options.droveBinary else { return }
        let result = try await Subprocess.run(drove, [verb, "-f", directory.path])
        guard result.code == 0 else { throw BenchError("drove \(verb) exited \(result.code):\n\(result.output.suffix(3000))") }
    }
}

/// The hand-written optimal loop figure 3 compares Drove with: the same libvirt work (a qcow2
/// overlay on the template copy, a define with the same domain XML, a start), each host's VMs
/// spread evenly and worked on by as many workers as the host has lanes, all hosts at once.
/// It knows everything in advance, so it looks nothing up it does not need.
enum HandLoop {
    static func up(lab: BenchLab, vms: Int, set: String, template: TemplateImage, memoryMiB: Int) async throws {
        let hosts = lab.hosts
        let lanes = lab.manifestHosts.first?.spec.maxParallel ?? 4
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, host) in hosts.enumerated() {
                let ordinals = Array(stride(from: index, to: vms, by: hosts.count))
                group.addTask {
                    let connection = try await Connection.open(host.uri, lanes: lanes)
                    do {
                        guard let pool = try await connection.storagePool(named: host.pool),
                              let backing = try await pool.volume(named: template.volume) else {
                            throw BenchError("\(host.name): the template copy \(template.volume) is missing")
                        }
                        let backingPath = backing.path
                        try await forEach(ordinals, width: lanes) { ordinal in
                            let name = Naming.vmName(set: set, ordinal: ordinal)
                            let disk = try await pool.createVolume(xml: overlayXML(
                                name: Naming.diskVolume(vm: name), capacity: template.virtualBytes,
                                backingPath: backingPath, backingFormat: template.format))
                            let definition = DomainDefinition(
                                name: name, domainType: "qemu", vcpus: 1, memoryBytes: UInt64(memoryMiB) << 20,
                                cpuMode: .default, diskPath: disk.path, diskFormat: "qcow2",
                                interfaces: [.init(attachment: .user, mac: MACAddress.derived(set: set, ordinal: ordinal, nic: 0))],
                                metadata: VMMetadata(set: set, ordinal: ordinal, specHash: "hand-written",
                                                     templateDigest: template.digest, volume: disk.name, vcpus: 1,
                                                     memoryBytes: UInt64(memoryMiB) << 20))
                            let domain = try await connection.defineDomain(xml: definition.xml())
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
    }

    /// Removes every domain of every host and its disk: destroy, undefine, delete the volume,
    /// `maxParallel` at a time per host, all hosts at once.
    static func down(lab: BenchLab) async throws {
        let lanes = lab.manifestHosts.first?.spec.maxParallel ?? 4
        try await withThrowingTaskGroup(of: Void.self) { group in
            for host in lab.hosts {
                group.addTask {
                    let connection = try await Connection.open(host.uri, lanes: lanes)
                    do {
                        guard let pool = try await connection.storagePool(named: host.pool) else {
                            throw BenchError("\(host.name): no pool \(host.pool)")
                        }
                        let domains = try await connection.listAllDomains()
                        try await forEach(domains, width: lanes) { domain in
                            try await domain.destroy()
                            try await domain.undefine()
                            try await pool.volume(named: Naming.diskVolume(vm: domain.name))?.delete()
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
    }

    /// The same overlay volume XML Drove's host driver writes.
    static func overlayXML(name: String, capacity: UInt64, backingPath: String, backingFormat: String) -> String {
        """
        <volume><name>\(name)</name><capacity unit="bytes">\(capacity)</capacity><allocation unit="bytes">0</allocation>\
        <target><format type="qcow2"/></target>\
        <backingStore><path>\(backingPath)</path><format type="\(backingFormat)"/></backingStore></volume>
        """
    }
}
