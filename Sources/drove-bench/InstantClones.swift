import DroveEngine
import DroveManifest
import Foundation

/// Figure 7, instant clones: time to ready of N tiny guests with `start: snapshot` (each
/// resumed from its host's golden snapshot under its own identity) beside `start: boot`, on the
/// 3 lab hosts through Drove's engine (`drove up --for ready`), with the QEMU CPU-seconds each
/// guest had used when it said it was ready. The golden snapshots are made once, ahead of the
/// timed runs (pre-boot, as template copies are pre-copied); making them is timed apart.
struct InstantClonesFigure {
    struct Row: Codable, Sendable {
        var start: String
        var vms: Int
        var firstReadySeconds: Summary
        var allReadySeconds: Summary
        var cpuSecondsPerVM: Summary
        var samples: [TimeToReadyFigure.Sample]
    }

    struct Result: Codable, Sendable {
        var hosts: Int
        var memoryMiB: Int
        /// Making the golden snapshots on every host (boot to the identity wait, save) and
        /// resuming one guest on each, from the start of that deployment.
        var goldenSeconds: Double
        var rows: [Row]
    }

    let lab: BenchLab
    let options: BenchOptions
    let images: ImageCache
    let template: URL

    func run() async throws -> Result {
        let decl = TemplateDecl(name: "tiny", path: template.path, format: "qcow2", precopy: .ahead)
        try await lab.clean(templates: true)
        _ = try await Deploy.converge(try await images.desired(try lab.manifest(templates: [decl]))) // copies, not measured
        let golden = ContinuousClock.now
        _ = try await deploy(vms: lab.hosts.count, start: .snapshot, template: decl)
        let goldenSeconds = Self.seconds(ContinuousClock.now - golden)
        Progress.say("figure 7: golden snapshots on \(lab.hosts.count) hosts made (and one guest resumed on each) in \(Format.seconds(goldenSeconds))")
        var rows: [Row] = []
        for vms in [options.vms, options.vmsLarge].uniqued() {
            for start in [StartMode.boot, .snapshot] {
                var samples: [TimeToReadyFigure.Sample] = []
                for run in 0..<options.runs {
                    try await lab.clean()
                    let sample = try await deploy(vms: vms, start: start, template: decl)
                    samples.append(sample)
                    Progress.say("figure 7: N=\(vms), start: \(start.rawValue): first ready \(Format.seconds(sample.firstReadySeconds)), "
                        + "all ready \(Format.seconds(sample.allReadySeconds)), " + String(format: "%.2f CPU-s per VM", sample.cpuSecondsPerBoot)
                        + " (run \(run + 1)/\(options.runs))")
                }
                rows.append(Row(start: start.rawValue, vms: vms, firstReadySeconds: Summary(samples.map(\.firstReadySeconds)),
                                allReadySeconds: Summary(samples.map(\.allReadySeconds)),
                                cpuSecondsPerVM: Summary(samples.map(\.cpuSecondsPerBoot)), samples: samples))
            }
        }
        try await lab.clean(templates: true)
        return Result(hosts: lab.hosts.count, memoryMiB: TimeToReadyFigure.memoryMiB, goldenSeconds: goldenSeconds, rows: rows)
    }

    /// `drove up --for ready` of one set of `vms` guests, timed by the guests' own word.
    private func deploy(vms: Int, start: StartMode, template: TemplateDecl) async throws -> TimeToReadyFigure.Sample {
        let hosts = lab.hosts.map { host in
            """
            apiVersion: drove/v1
            kind: Host
            metadata: { name: \(host.name), labels: { lab: "true" } }
            spec: { uri: "\(host.uri)", pool: \(host.pool), domainType: qemu, overcommit: { cpu: 16 } }
            """
        }
        let set = """
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: ready }
            spec: { replicas: \(vms), template: tiny, start: \(start.rawValue), resources: { memory: \(TimeToReadyFigure.memoryMiB)Mi }, readiness: agent }
            """
        let manifest = try Manifests.load((hosts + [template.yaml, set]).joined(separator: "\n---\n"))
        let watch = try await ReadyWatch.start(lab)
        let began = ContinuousClock.now
        _ = try await Deploy.converge(try await images.desired(manifest), goal: .ready)
        return try await watch.sample(since: began, vms: vms)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
