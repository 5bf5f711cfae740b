import DroveEngine
import DroveManifest
import DrovePlan
import Foundation

/// Figure 1, the research table: full copies one at a time, linked clones one at a time, and
/// linked clones in parallel, deployed by Drove's engine on 3 lab hosts, for templates of each
/// size already on the hosts.
struct ResearchTable {
    struct Variant: Sendable {
        var clone: CloneMode
        var parallel: Bool
        var vms: Int

        /// e.g. `full-serial-10`, `linked-parallel-30`.
        var key: String { "\(clone.rawValue)-\(parallel ? "parallel" : "serial")-\(vms)" }
        var label: String { "\(clone == .full ? "full copy" : "linked"), \(parallel ? "parallel" : "one at a time"), N=\(vms)" }
    }

    struct Row: Codable, Sendable {
        var size: String
        var dataBytes: UInt64
        /// Response time of each variant, by key.
        var responseSeconds: [String: Summary]
        /// How long one disk took to make, by variant: a full copy against an overlay.
        var createDiskSeconds: [String: Summary]
        /// How long each kind of action took, by variant and then by verb (create-disk, define,
        /// start): where a VM's time goes.
        var actionSeconds: [String: [String: Summary]]
        /// Linked one at a time against full copies one at a time, N = vms (negative: faster).
        var linkedVsFull: Double?
        /// Linked in parallel against linked one at a time, by N.
        var parallelVsSerial: [String: Double]
        /// Response time per VM of the linked variants, by key.
        var perVMSeconds: [String: Double]
        /// Busy share of the machine's CPUs during each variant, by key (1 = all cores busy).
        var cpuShare: [String: Summary]
        /// Busy CPU-seconds of the whole machine during each variant, by key.
        var cpuSeconds: [String: Summary]
    }

    struct Result: Codable, Sendable {
        var vms: Int
        var vmsLarge: Int
        var guestMemoryMiB: Int
        var hosts: Int
        var hostMaxParallel: Int
        var rows: [Row]
        /// For each linked variant: largest over smallest per-VM median across sizes, minus 1.
        var perVMSpread: [String: Double]
    }

    let lab: BenchLab
    let options: BenchOptions
    let images: ImageCache
    let templates: [Size: URL]

    var variants: [Variant] {
        var list = [Variant(clone: .full, parallel: false, vms: options.vms),
                    Variant(clone: .linked, parallel: false, vms: options.vms),
                    Variant(clone: .linked, parallel: true, vms: options.vms)]
        if options.vmsLarge != options.vms {
            list += [Variant(clone: .linked, parallel: false, vms: options.vmsLarge),
                     Variant(clone: .linked, parallel: true, vms: options.vmsLarge)]
        }
        return list
    }

    func template(_ size: Size, _ precopy: TemplateDecl.Precopy = .ahead) -> TemplateDecl {
        TemplateDecl(name: "data-\(size.slug)", path: templates[size]!.path, format: "qcow2", precopy: precopy)
    }

    func run() async throws -> Result {
        // The templates are on the hosts before anything is measured.
        try await lab.clean(templates: true)
        Progress.say("figure 1: copying the templates to the hosts (not measured)")
        let all = try lab.manifest(templates: options.sizes.map { template($0) })
        _ = try await Deploy.converge(try await images.desired(all))

        var response = Samples()
        var disks = Samples()
        var cpuShare = Samples()
        var actions = Samples()
        var cpuSeconds = Samples()
        for run in 0..<options.runs {
            for size in options.sizes {
                for variant in variants.rotated(by: run) {
                    try await lab.clean()
                    let manifest = try lab.manifest(
                        templates: [template(size)],
                        sets: [SetDecl(name: "bench", replicas: variant.vms, template: "data-\(size.slug)",
                                       clone: variant.clone, memoryMiB: options.memoryMiB)])
                    let desired = try await images.desired(manifest)
                    let recorder = RunRecorder()
                    let cpuBefore = CPUMeter.read()
                    let (elapsed, _) = try await timed {
                        try await Deploy.converge(desired, global: variant.parallel ? 32 : 1,
                                                  recorder: recorder)
                    }
                    let cpu = CPUMeter.usage(from: cpuBefore, to: CPUMeter.read())
                    response.add("\(size.slug)/\(variant.key)", elapsed)
                    cpuShare.add("\(size.slug)/\(variant.key)", cpu.machineShare)
                    cpuSeconds.add("\(size.slug)/\(variant.key)", cpu.machineSeconds)
                    for (verb, times) in recorder.actionSeconds {
                        for time in times { actions.add("\(size.slug)/\(variant.key)/\(verb)", time) }
                    }
                    for disk in recorder.actionSeconds["create-disk"] ?? [] { disks.add("\(size.slug)/\(variant.key)", disk) }
                    Progress.say("figure 1: \(size) \(variant.label): \(Format.seconds(elapsed)) (run \(run + 1)/\(options.runs))")
                }
            }
        }
        try await lab.clean()

        var rows: [Row] = []
        for size in options.sizes {
            var row = Row(size: size.label, dataBytes: size.bytes, responseSeconds: [:], createDiskSeconds: [:],
                          actionSeconds: [:], linkedVsFull: nil, parallelVsSerial: [:], perVMSeconds: [:], cpuShare: [:],
                          cpuSeconds: [:])
            for variant in variants {
                row.responseSeconds[variant.key] = response.summary("\(size.slug)/\(variant.key)")
                row.createDiskSeconds[variant.key] = disks.summary("\(size.slug)/\(variant.key)")
                row.cpuShare[variant.key] = cpuShare.summary("\(size.slug)/\(variant.key)")
                for verb in ["create-disk", "define", "start"] {
                    row.actionSeconds[variant.key, default: [:]][verb] = actions.summary("\(size.slug)/\(variant.key)/\(verb)")
                }
                row.cpuSeconds[variant.key] = cpuSeconds.summary("\(size.slug)/\(variant.key)")
                if variant.clone == .linked, let median = row.responseSeconds[variant.key]?.median {
                    row.perVMSeconds[variant.key] = median / Double(variant.vms)
                }
            }
            func median(_ clone: CloneMode, _ parallel: Bool, _ vms: Int) -> Double? {
                row.responseSeconds[Variant(clone: clone, parallel: parallel, vms: vms).key]?.median
            }
            if let full = median(.full, false, options.vms), let linked = median(.linked, false, options.vms) {
                row.linkedVsFull = linked / full - 1
            }
            for vms in Set([options.vms, options.vmsLarge]) {
                if let serial = median(.linked, false, vms), let parallel = median(.linked, true, vms) {
                    row.parallelVsSerial[String(vms)] = parallel / serial - 1
                }
            }
            rows.append(row)
        }
        var spread: [String: Double] = [:]
        for variant in variants where variant.clone == .linked {
            let perVM = rows.compactMap { $0.perVMSeconds[variant.key] }
            if perVM.count > 1, let low = perVM.min(), let high = perVM.max(), low > 0 { spread[variant.key] = high / low - 1 }
        }
        return Result(vms: options.vms, vmsLarge: options.vmsLarge, guestMemoryMiB: options.memoryMiB, hosts: lab.hosts.count,
                      hostMaxParallel: lab.manifestHosts.first?.spec.maxParallel ?? 0, rows: rows, perVMSpread: spread)
    }
}
