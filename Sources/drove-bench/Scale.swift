import ArgumentParser
import DroveEngine
import DroveHost
import DroveManifest
import DrovePlan
import Foundation
import Libvirt

/// Figure 4, scale without QEMU: the planner alone on a large fleet, and a converged pass over
/// many hosts of libvirt's test driver.
struct ScaleFigure {
    struct Planner: Codable, Sendable {
        var hosts: Int
        var vms: Int
        var sets: Int
        /// Planning every VM onto empty hosts (holding the template).
        var freshSeconds: Summary
        var freshActions: Int
        /// Planning the same fleet once every VM is there: an empty plan.
        var convergedSeconds: Summary
        /// Peak resident memory of a process that builds the inputs and plans, minus that of one
        /// that only builds the inputs.
        var freshPeakBytes: Int
        var convergedPeakBytes: Int
        /// The baseline process's own peak (runtime, libraries, inputs for the fresh plan).
        var inputsPeakBytes: Int
    }

    struct Pass: Codable, Sendable {
        var hosts: Int
        var vmsPerHost: Int
        var driver: String
        /// One converge pass over the converged fleet: observe every host, plan, find nothing to do.
        var passSeconds: Summary
        var callsPerPass: Int
        var callsPerVM: Double
        var callsPerHost: Double
        var mutatingCalls: Int
        /// Any mutating call made, by operation (empty when the pass changed nothing).
        var mutatingByOperation: [String: Int]
        var actionsRun: Int
        /// Deploying the fleet in the first place (not a target; for scale).
        var deploySeconds: Double
    }

    struct Result: Codable, Sendable {
        var planner: Planner
        var pass: Pass?
    }

    let options: BenchOptions

    func run() async throws -> Result {
        let planner = try await measurePlanner()
        let pass = try await measurePass()
        return Result(planner: planner, pass: pass)
    }

    // MARK: The planner alone

    func measurePlanner() async throws -> Planner {
        let inputs = PlannerInputs(hosts: options.plannerHosts, vms: options.plannerVMs)
        var fresh: [Double] = []
        var converged: [Double] = []
        var actions = 0
        let convergedFleet = inputs.convergedFleet()
        for run in 0..<options.runs {
            for isFresh in [true, false].rotated(by: run) {
                let fleet = isFresh ? inputs.fleet : convergedFleet
                let (elapsed, plan) = timedSync { DrovePlan.plan(inputs.desired, fleet) }
                if isFresh {
                    fresh.append(elapsed)
                    actions = plan.actions.count
                    guard plan.unschedulable.isEmpty else { throw BenchError("planner left \(plan.unschedulable.count) VMs unplaced") }
                } else {
                    converged.append(elapsed)
                    guard plan.isEmpty else { throw BenchError("the converged fleet still has \(plan.actions.count) actions") }
                }
            }
            Progress.say("figure 4: planner, \(options.plannerVMs) VMs on \(options.plannerHosts) hosts: fresh \(Format.seconds(fresh.last!)), converged \(Format.seconds(converged.last!)) (run \(run + 1)/\(options.runs))")
        }
        // Peak memory, each in a process of its own (peak RSS only ever grows within one).
        let baseline = try await probe("inputs")
        let freshPeak = try await probe("fresh")
        let convergedBaseline = try await probe("inputs-converged")
        let convergedPeak = try await probe("converged")
        return Planner(hosts: options.plannerHosts, vms: options.plannerVMs, sets: inputs.desired.manifest.vmSets.count,
                       freshSeconds: Summary(fresh), freshActions: actions, convergedSeconds: Summary(converged),
                       freshPeakBytes: freshPeak - baseline, convergedPeakBytes: convergedPeak - convergedBaseline,
                       inputsPeakBytes: baseline)
    }

    /// Runs `drove-bench planner-probe` and returns its peak resident memory in bytes.
    private func probe(_ mode: String) async throws -> Int {
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        let output = try await Subprocess.check(me, ["planner-probe", "--hosts", String(options.plannerHosts),
                                                     "--vms", String(options.plannerVMs), "--mode", mode])
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("maxrss-kib ") }),
              let kib = Int(line.dropFirst("maxrss-kib ".count)) else {
            throw BenchError("planner-probe printed no peak memory: \(output)")
        }
        return kib * 1024
    }

    // MARK: A converged pass over the test driver

    func measurePass() async throws -> Pass? {
        let directory = options.scratch.appendingPathComponent("testdriver", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let hostCount = options.testHosts
        let perHost = options.testVMsPerHost
        // Each host is a test-driver "node" file of its own: test:///<file> gives every
        // connection a private in-memory host (test:///default is one shared host per process).
        var hostYAML: [String] = []
        for index in 1...hostCount {
            let name = String(format: "t%03d", index)
            let file = directory.appendingPathComponent("\(name).xml")
            try Data(TestDriver.nodeXML(pool: "/drove-bench-\(name)", cpus: max(16, perHost), memoryKiB: 256 << 20).utf8).write(to: file)
            hostYAML.append("""
                apiVersion: drove/v1
                kind: Host
                metadata: { name: \(name) }
                spec: { uri: "test://\(file.path)", domainType: qemu }
                """)
        }
        let templateFile = directory.appendingPathComponent("tiny.qcow2")
        try await TemplateMaker.emptyQcow2(at: templateFile, virtualBytes: 1 << 30)
        let sets = 10
        let replicas = hostCount * perHost / sets
        let setYAML = (0..<sets).map { SetDecl(name: String(format: "s%02d", $0), replicas: replicas, template: "tiny", clone: .linked, memoryMiB: 64).yaml }
        let templateYAML = TemplateDecl(name: "tiny", path: templateFile.path, format: "qcow2", precopy: .eager).yaml
        let manifest = try Manifests.load((hostYAML + [templateYAML] + setYAML).joined(separator: "\n---\n"))
        let engine = Engine()
        let catalog = await engine.images.images(for: manifest.templates)
        guard let image = catalog.images["tiny"] else { throw BenchError("cannot read \(templateFile.path)") }
        let desired = DesiredState(manifest: manifest, images: ["tiny": image])

        let connections = await engine.connect(manifest.hosts)
        do {
            let pass = try await measurePass(Converger(engine: engine, connections: connections), manifest: manifest,
                                             desired: desired, image: image)
            await connections.close()
            return pass
        } catch {
            await connections.close()
            throw error
        }
    }

    private func measurePass(_ converger: Converger, manifest: Manifest, desired: DesiredState,
                             image: TemplateImage) async throws -> Pass {
        let connections = converger.connections
        let hostCount = options.testHosts
        let perHost = options.testVMsPerHost
        guard connections.unreachable.isEmpty else { throw BenchError("test driver hosts unreachable: \(connections.unreachable)") }
        // The test driver cannot take an upload, so the template copies are made in place, each
        // with its ready marker, as a finished copy would leave them.
        try await forEach(Array(connections.drivers.values), width: 8) { driver in
            guard let host = driver as? LibvirtHost, let pool = try await host.connection.storagePool(named: "default") else {
                throw BenchError("\(driver.name): no pool")
            }
            _ = try await pool.createVolume(xml: TestDriver.volumeXML(name: image.volume, format: image.format, capacity: image.virtualBytes))
            _ = try await pool.createVolume(xml: TestDriver.volumeXML(name: Naming.templateReadyMarker(digest: image.digest), format: "raw", capacity: 0))
        }
        Progress.say("figure 4: deploying \(hostCount * perHost) VMs onto \(hostCount) test-driver hosts (not a target)")
        let (deploySeconds, deployed) = await timed { await converger.converge(desired, timeout: .seconds(1800)) }
        guard deployed.converged else { throw BenchError("test-driver fleet did not converge: \(deployed.stopReason ?? "?") \(deployed.failures.prefix(3)) \(deployed.unschedulable.prefix(2).map(\.reason)) \(deployed.notes.prefix(3))") }
        let vms = deployed.fleet.hosts.values.reduce(0) { $0 + $1.vms.count }
        guard vms == hostCount * perHost else { throw BenchError("expected \(hostCount * perHost) VMs, observed \(vms)") }

        var times: [Double] = []
        var calls = 0
        var mutating: [String: Int] = [:]
        var actions = 0
        for run in 0..<options.runs {
            let before = CallStatistics.snapshot()
            let (elapsed, result) = await timed { await converger.converge(desired, timeout: .seconds(600)) }
            let delta = CallStatistics.snapshot().since(before)
            guard result.converged, result.passes == 1 else { throw BenchError("the converged pass did not find the fleet converged") }
            times.append(elapsed)
            calls = delta.calls
            mutating.merge(delta.mutating, uniquingKeysWith: +)
            actions += result.actionsRun
            Progress.say("figure 4: converged pass over \(hostCount) hosts × \(perHost) VMs: \(Format.seconds(elapsed)), \(delta.calls) libvirt calls, \(delta.mutatingCalls) mutating (run \(run + 1)/\(options.runs))")
        }
        let total = hostCount * perHost
        return Pass(hosts: hostCount, vmsPerHost: perHost, driver: "test:///<node file> (libvirt's test driver, one private instance per host)",
                    passSeconds: Summary(times), callsPerPass: calls, callsPerVM: Double(calls) / Double(total),
                    callsPerHost: Double(calls) / Double(hostCount), mutatingCalls: mutating.values.reduce(0, +),
                    mutatingByOperation: mutating, actionsRun: actions, deploySeconds: deploySeconds)
    }
}

enum TestDriver {
    /// A host's node file; `volumes` (see `volumeXML`) are in its pool from the start.
    static func nodeXML(pool: String, cpus: Int, memoryKiB: Int, volumes: [String] = []) -> String {
        """
        <node>
          <cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets><cores>\(cpus)</cores><threads>1</threads><active>\(cpus)</active></cpu>
          <memory>\(memoryKiB)</memory>
          <pool type='dir'><name>default</name><target><path>\(pool)</path></target>\(volumes.joined())</pool>
        </node>
        """
    }

    static func volumeXML(name: String, format: String, capacity: UInt64) -> String {
        """
        <volume><name>\(name)</name><capacity unit='bytes'>\(capacity)</capacity><allocation unit='bytes'>0</allocation>\
        <target><format type='\(format)'/></target></volume>
        """
    }
}

func timedSync<T>(_ body: () throws -> T) rethrows -> (Double, T) {
    let clock = ContinuousClock()
    let start = clock.now
    let value = try body()
    return (seconds(clock.now - start), value)
}

/// The planner's inputs at scale: `hosts` empty hosts that hold the template, and sets of 100
/// VMs adding up to `vms`, spread over all hosts.
struct PlannerInputs {
    let desired: DesiredState
    let fleet: ObservedFleet

    init(hosts: Int, vms: Int) {
        var manifest = Manifest()
        let digest = String(repeating: "ab", count: 32)
        for index in 0..<hosts {
            manifest.hosts.append(Host(metadata: ObjectMeta(name: String(format: "h%04d", index), labels: ["rack": "r\(index % 20)"]),
                                       spec: HostSpec(uri: "test:///h\(index)", domainType: .qemu)))
        }
        manifest.templates.append(Template(metadata: ObjectMeta(name: "tpl"), spec: TemplateSpec(
            source: TemplateSource(path: "tpl.qcow2", resolvedPath: "/images/tpl.qcow2"))))
        var left = vms
        var index = 0
        while left > 0 {
            let replicas = min(100, left)
            manifest.vmSets.append(VMSet(metadata: ObjectMeta(name: String(format: "set%03d", index)), spec: VMSetSpec(
                replicas: replicas, template: "tpl", resources: Resources(vcpus: 1, memory: 64 << 20))))
            left -= replicas
            index += 1
        }
        let image = TemplateImage(name: "tpl", digest: digest, format: "qcow2", path: "/images/tpl.qcow2",
                                  fileBytes: 1 << 30, virtualBytes: 10 << 30)
        desired = DesiredState(manifest: manifest, images: ["tpl": image])
        fleet = ObservedFleet(hosts: manifest.hosts.map {
            ObservedHost(name: $0.metadata.name, cpus: 64, memoryBytes: 1 << 40,
                         templates: [digest: TemplateCopy(digest: digest, volume: image.volume, complete: true)])
        })
    }

    /// The fleet with every VM in place and running, spread round-robin over the hosts. Each
    /// set's spec hash comes from planning one VM of it on one host (the hash is the planner's
    /// own), so building this fleet never runs the large plan.
    func convergedFleet() -> ObservedFleet {
        var probe = desired
        probe.manifest.hosts = [desired.manifest.hosts[0]]
        for index in probe.manifest.vmSets.indices { probe.manifest.vmSets[index].spec.replicas = 1 }
        let first = fleet.hosts[desired.manifest.hosts[0].metadata.name]!
        var hashes: [String: String] = [:]
        for action in DrovePlan.plan(probe, ObservedFleet(hosts: [first])).actions {
            if case let .defineVM(vm) = action.kind { hashes[vm.set] = vm.specHash }
        }
        let names = desired.manifest.hosts.map(\.metadata.name)
        var hosts = fleet.hosts
        var next = 0
        for set in desired.manifest.vmSets {
            for ordinal in 0..<set.spec.replicas {
                let name = Naming.vmName(set: set.metadata.name, ordinal: ordinal)
                hosts[names[next % names.count]]?.vms[name] = ObservedVM(
                    name: name, set: set.metadata.name, ordinal: ordinal, specHash: hashes[set.metadata.name] ?? "",
                    templateDigest: desired.images["tpl"]!.digest, volume: Naming.diskVolume(vm: name),
                    vcpus: set.spec.resources.vcpus, memoryBytes: set.spec.resources.memory, state: .running, agentConnected: true)
                next += 1
            }
        }
        return ObservedFleet(hosts: Array(hosts.values))
    }
}

/// `drove-bench planner-probe`: builds the planner's inputs and plans once, then prints its own
/// peak resident memory, so the parent can tell the planner's peak from the baseline's.
struct PlannerProbe: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "planner-probe", shouldDisplay: false)

    @Option var hosts = 500
    @Option var vms = 10_000
    @Option(help: "inputs | fresh | converged") var mode = "fresh"

    func run() throws {
        let inputs = PlannerInputs(hosts: hosts, vms: vms)
        switch mode {
        case "inputs":
            print("actions 0")
        case "inputs-converged":
            print("vms \(inputs.convergedFleet().hosts.values.reduce(0) { $0 + $1.vms.count })")
        case "fresh":
            print("actions \(DrovePlan.plan(inputs.desired, inputs.fleet).actions.count)")
        case "converged":
            let fleet = inputs.convergedFleet()
            print("actions \(DrovePlan.plan(inputs.desired, fleet).actions.count)")
        default:
            throw ValidationError("unknown mode \(mode)")
        }
        print("maxrss-kib \(Memory.peakResidentBytes() / 1024)")
    }
}
