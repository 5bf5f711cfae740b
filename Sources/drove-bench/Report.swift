import DroveManifest
import Foundation

/// Everything one run measured, as JSON and as readable tables.
struct Report: Codable, Sendable {
    struct Options: Codable, Sendable {
        var figures: [Int]
        var sizes: [String]
        var runs: Int
        var vms: Int
        var vmsLarge: Int
        var guestMemoryMiB: Int
        var sparse: String
        var plannerHosts: Int
        var plannerVMs: Int
        var testHosts: Int
        var testVMsPerHost: Int
        var controllerHosts: Int
        var controllerSets: Int
        var controllerReplicas: Int
        var controllerWorkers: Int
        var droveBinary: String?

        init(_ options: BenchOptions) {
            figures = options.figures
            sizes = options.sizes.map(\.label)
            runs = options.runs
            vms = options.vms
            vmsLarge = options.vmsLarge
            guestMemoryMiB = options.memoryMiB
            sparse = "\(options.sparse.virtual) virtual, \(options.sparse.data) of data"
            plannerHosts = options.plannerHosts
            plannerVMs = options.plannerVMs
            testHosts = options.testHosts
            testVMsPerHost = options.testVMsPerHost
            controllerHosts = options.controller.hosts
            controllerSets = options.controller.sets
            controllerReplicas = options.controller.replicas
            controllerWorkers = options.controller.workers
            droveBinary = options.droveBinary
        }
    }

    struct Target: Codable, Sendable {
        var figure: Int
        var name: String
        var target: String
        var measured: String
        var met: Bool
    }

    var command: String
    var started: String
    var seconds: Double?
    var machine: Machine
    var options: Options
    var researchTable: ResearchTable.Result?
    var precopy: PrecopyFigure.Result?
    var overhead: OverheadFigure.Result?
    var scale: ScaleFigure.Result?
    var controller: ControllerFigure.Result?
    var timeToReady: TimeToReadyFigure.Result?
    var instantClones: InstantClonesFigure.Result?
    var targets: [Target] = []

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    // MARK: Tables

    func render() -> String {
        var out: [String] = []
        let m = machine
        out.append("Drove benchmark, \(started)")
        out.append("machine: \(m.processors) CPUs (\(m.cpuModel)), \(Format.bytes(m.memoryBytes)) memory, \(m.os), kernel \(m.kernel)")
        out.append("         \(m.qemu); \(m.libvirtLibrary)\(m.libvirtDaemon.map { " (lab daemons report \($0))" } ?? ""); \(m.swift)")
        out.append("command: \(command)")
        out.append("every time is the median of \(options.runs) runs, with (min–max)")
        if let table = researchTable { out.append(""); out.append(render(table)) }
        if let precopy { out.append(""); out.append(render(precopy)) }
        if let overhead { out.append(""); out.append(render(overhead)) }
        if let scale { out.append(""); out.append(render(scale)) }
        if let controller { out.append(""); out.append(render(controller)) }
        if let timeToReady { out.append(""); out.append(render(timeToReady)) }
        if let instantClones { out.append(""); out.append(render(instantClones)) }
        if !targets.isEmpty {
            out.append("")
            out.append("Targets")
            var table = TextTable("figure", "target", "wanted", "measured", "")
            for target in targets {
                table.add(String(target.figure), target.name, target.target, target.measured, target.met ? "met" : "MISSED")
            }
            out.append(table.render())
        }
        return out.joined(separator: "\n")
    }

    private func render(_ result: ResearchTable.Result) -> String {
        let n = result.vms, large = result.vmsLarge
        var out = ["Figure 1: the research table. Deployment response time on \(result.hosts) lab hosts (\(result.hostMaxParallel) lanes each), \(result.guestMemoryMiB) MiB guests, templates already on the hosts"]
        var times = TextTable("template data", "full, one at a time, N=\(n)", "linked, one at a time, N=\(n)", "linked, parallel, N=\(n)",
                              "linked, one at a time, N=\(large)", "linked, parallel, N=\(large)")
        for row in result.rows {
            times.add(row.size, Format.summary(row.responseSeconds["full-serial-\(n)"]), Format.summary(row.responseSeconds["linked-serial-\(n)"]),
                      Format.summary(row.responseSeconds["linked-parallel-\(n)"]), Format.summary(row.responseSeconds["linked-serial-\(large)"]),
                      Format.summary(row.responseSeconds["linked-parallel-\(large)"]))
        }
        out.append(times.render())
        out.append("")
        var reductions = TextTable("template data", "linked vs full (N=\(n))", "parallel vs serial (N=\(n))", "parallel vs serial (N=\(large))",
                                   "per VM, linked serial N=\(large)", "per VM, linked parallel N=\(large)", "one full copy (mean)", "one overlay (mean)")
        for row in result.rows {
            reductions.add(row.size, Format.percent(row.linkedVsFull), Format.percent(row.parallelVsSerial[String(n)]),
                           Format.percent(row.parallelVsSerial[String(large)]),
                           row.perVMSeconds["linked-serial-\(large)"].map(Format.seconds) ?? "—",
                           row.perVMSeconds["linked-parallel-\(large)"].map(Format.seconds) ?? "—",
                           row.createDiskSeconds["full-serial-\(n)"].map { Format.seconds($0.mean) } ?? "—",
                           row.createDiskSeconds["linked-serial-\(n)"].map { Format.seconds($0.mean) } ?? "—")
        }
        out.append(reductions.render())
        out.append("")
        var cpu = TextTable("machine CPU busy (CPU-seconds)", "full, one at a time, N=\(n)", "linked, one at a time, N=\(n)",
                            "linked, parallel, N=\(n)", "linked, one at a time, N=\(large)", "linked, parallel, N=\(large)")
        for row in result.rows {
            func cell(_ key: String) -> String {
                guard let share = row.cpuShare[key], let seconds = row.cpuSeconds[key] else { return "—" }
                return String(format: "%.0f%% (%.1f s)", share.median * 100, seconds.median)
            }
            cpu.add(row.size, cell("full-serial-\(n)"), cell("linked-serial-\(n)"), cell("linked-parallel-\(n)"),
                    cell("linked-serial-\(large)"), cell("linked-parallel-\(large)"))
        }
        out.append(cpu.render())
        out.append("")
        var steps = TextTable("mean time per action", "full, one at a time, N=\(n)", "linked, one at a time, N=\(n)",
                              "linked, parallel, N=\(n)", "linked, one at a time, N=\(large)", "linked, parallel, N=\(large)")
        for row in result.rows {
            func cell(_ key: String) -> String {
                let verbs = row.actionSeconds[key] ?? [:]
                return ["create-disk", "define", "start"].map { verbs[$0].map { Format.seconds($0.mean) } ?? "—" }.joined(separator: " / ")
            }
            steps.add("\(row.size): disk / define / start", cell("full-serial-\(n)"), cell("linked-serial-\(n)"), cell("linked-parallel-\(n)"),
                      cell("linked-serial-\(large)"), cell("linked-parallel-\(large)"))
        }
        out.append(steps.render())
        let spread = result.perVMSpread.sorted { $0.key < $1.key }.map { "\($0.key) \(Format.percent($0.value))" }
        if !spread.isEmpty { out.append("per-VM cost, largest over smallest template: " + spread.joined(separator: ", ")) }
        return out.joined(separator: "\n")
    }

    private func render(_ result: PrecopyFigure.Result) -> String {
        var out = ["Figure 2: pre-copy. Linked, parallel deployment of N=\(result.vms) with the template not yet on the hosts"]
        var table = TextTable("template data", "on demand: response", "eager: pre-copy (ahead)", "eager: response", "response change")
        for row in result.rows {
            table.add(row.size, Format.summary(row.onDemandResponse), Format.summary(row.eagerPrecopy),
                      Format.summary(row.eagerResponse), Format.percent(row.responseChange))
        }
        out.append(table.render())
        if let sparse = result.sparse {
            out.append("")
            out.append("Sparse template (raw, \(Format.bytes(sparse.virtualBytes)) virtual, \(Format.bytes(sparse.dataBytes)) of data, \(Format.bytes(sparse.fileAllocatedBytes)) allocated locally) copied to \(sparse.hosts) hosts:")
            var bytes = TextTable("sent per host", "holes skipped per host", "allocated on each host", "sent / virtual size", "copy to all hosts")
            bytes.add(Format.bytes(UInt64(sparse.sentBytesPerHost.median)), Format.bytes(UInt64(sparse.holeBytesPerHost.median)),
                      Format.bytes(UInt64(sparse.allocatedOnHostBytes.median)), String(format: "%.2f%%", sparse.sentOverVirtual * 100),
                      Format.summary(sparse.copySeconds))
            out.append(bytes.render())
        }
        return out.joined(separator: "\n")
    }

    private func render(_ result: OverheadFigure.Result) -> String {
        var out = ["Figure 3: Drove's own overhead. \(result.vms) linked VMs over \(result.hosts) hosts (\(result.lanesPerHost) lanes each), template \(result.template); prompt reaping of exited QEMU: \(result.promptReaping ? "yes (each lab host's reaper)" : "no (the machine's PID 1)")"]
        var table = TextTable("", "up", "down", "libvirt calls per VM (up / down)", "CPU during up: machine busy, this process")
        let labels = [("engine", "drove up/down (engine, in-process)"), ("loop", "hand-written parallel loop"), ("cli", "drove up/down (release CLI, subprocess)")]
        for (key, label) in labels {
            guard let up = result.up[key], let down = result.down[key] else { continue }
            let calls = result.callsPerVM["\(key)-up"].map { String(format: "%.1f / %.1f", $0, result.callsPerVM["\(key)-down"] ?? 0) } ?? "—"
            let cpu = result.upMachineCPUShare[key].map { share in
                key == "cli" ? String(format: "%.0f%%, (own process)", share.median * 100)
                    : String(format: "%.0f%%, %.2f s", share.median * 100, result.upProcessCPUSeconds[key]?.median ?? 0)
            } ?? "—"
            table.add(label, Format.summary(up), Format.summary(down), calls, cpu)
        }
        table.add("engine / loop (paired per run)", "\(Format.ratio(result.upRatio.median)) (\(Format.ratio(result.upRatio.min))–\(Format.ratio(result.upRatio.max)))",
                  "\(Format.ratio(result.downRatio.median)) (\(Format.ratio(result.downRatio.min))–\(Format.ratio(result.downRatio.max)))", "")
        out.append(table.render())
        let actions = result.engineActionSeconds.sorted { $0.key < $1.key }.map { "\($0.key) \(Format.seconds($0.value))" }
        out.append("engine's mean time per action: " + actions.joined(separator: ", "))
        return out.joined(separator: "\n")
    }

    private func render(_ result: ScaleFigure.Result) -> String {
        let p = result.planner
        var out = ["Figure 4: scale without QEMU"]
        var table = TextTable("", "time", "peak memory", "")
        table.add("planner, \(p.vms) VMs (\(p.sets) sets) onto \(p.hosts) empty hosts", Format.summary(p.freshSeconds),
                  Format.bytes(UInt64(max(0, p.freshPeakBytes))), "\(p.freshActions) actions")
        table.add("planner, the same fleet converged", Format.summary(p.convergedSeconds),
                  Format.bytes(UInt64(max(0, p.convergedPeakBytes))), "0 actions")
        out.append(table.render())
        out.append("(peak memory: the planning process's peak RSS less that of one that only builds the inputs, \(Format.bytes(UInt64(p.inputsPeakBytes))))")
        if let pass = result.pass {
            out.append("")
            var passes = TextTable("converged pass", "time per pass", "libvirt calls", "per VM", "per host", "mutating calls", "actions")
            passes.add("\(pass.hosts) test-driver hosts × \(pass.vmsPerHost) VMs", Format.summary(pass.passSeconds), String(pass.callsPerPass),
                       String(format: "%.2f", pass.callsPerVM), String(format: "%.1f", pass.callsPerHost), String(pass.mutatingCalls),
                       String(pass.actionsRun))
            out.append(passes.render())
            out.append("(deploying those \(pass.hosts * pass.vmsPerHost) VMs first took \(Format.seconds(pass.deploySeconds)))")
        }
        return out.joined(separator: "\n")
    }

    private func render(_ result: ControllerFigure.Result) -> String {
        var out = ["Figure 5: the controller as one fleet. \(result.sets) sets × \(result.replicas) VMs applied at once onto \(result.hosts) test-driver hosts, \(result.workers) workers"]
        var table = TextTable("", "median (min–max)")
        func counts(_ summary: Summary, _ format: String) -> String {
            "\(String(format: format, summary.median)) (\(String(format: format, summary.min))–\(String(format: format, summary.max)))"
        }
        func bytes(_ summary: Summary) -> String {
            let format = { (value: Double) in Format.bytes(UInt64(max(0, value))) }
            return "\(format(summary.median)) (\(format(summary.min))–\(format(summary.max)))"
        }
        table.add("apply → every set Ready (AllReplicasReady)", Format.summary(result.readySeconds))
        table.add("rollout: libvirt calls per VM", counts(result.rolloutCallsPerVM, "%.2f"))
        table.add("rollout: mutating calls per VM", counts(result.rolloutMutatingPerVM, "%.2f"))
        table.add("converged resync: time", Format.summary(result.resyncSeconds))
        table.add("converged resync: libvirt calls per VM", counts(result.resyncCallsPerVM, "%.2f"))
        table.add("converged resync: mutating calls (all runs)", String(result.resyncMutatingCalls))
        table.add("converged resync: resident memory after less before", bytes(result.resyncGrowthBytes))
        table.add("peak memory of the process (VmHWM)", bytes(result.peakBytes))
        table.add("  of which before the controller started", bytes(result.baselinePeakBytes))
        out.append(table.render())
        out.append("(connecting to the \(result.hosts) hosts first took \(Format.summary(result.connectSeconds)); not a target)")
        return out.joined(separator: "\n")
    }
}

extension Report {
    fileprivate func render(_ result: TimeToReadyFigure.Result) -> String {
        var out = ["Figure 6: time to ready. Tiny guests (\(result.memoryMiB) MiB, TCG) on \(result.hosts) lab hosts, from the start of the deployment"]
        var table = TextTable("N", "maxBooting", "device model", "first ready", "all ready", "QEMU CPU-s per boot")
        for row in result.rows {
            table.add(String(row.vms), row.maxBooting.map(String.init) ?? "none", row.deviceModel,
                      Format.summary(row.firstReadySeconds), Format.summary(row.allReadySeconds),
                      String(format: "%.2f (%.2f–%.2f)", row.cpuSecondsPerBoot.median, row.cpuSecondsPerBoot.min, row.cpuSecondsPerBoot.max))
        }
        out.append(table.render())
        out.append("(the device-model rows define and start the guests by hand, all at once; the others are Drove's engine, as `drove up`)")
        return out.joined(separator: "\n")
    }

    fileprivate func render(_ result: InstantClonesFigure.Result) -> String {
        var out = ["Figure 7: instant clones. Tiny guests (\(result.memoryMiB) MiB, TCG) on \(result.hosts) lab hosts, start: snapshot beside start: boot, "
            + "from the start of the deployment (golden snapshots made beforehand in \(Format.seconds(result.goldenSeconds)))"]
        var table = TextTable("N", "start", "first ready", "all ready", "QEMU CPU-s per VM")
        for row in result.rows {
            table.add(String(row.vms), row.start, Format.summary(row.firstReadySeconds), Format.summary(row.allReadySeconds),
                      String(format: "%.2f (%.2f–%.2f)", row.cpuSecondsPerVM.median, row.cpuSecondsPerVM.min, row.cpuSecondsPerVM.max))
        }
        out.append(table.render())
        return out.joined(separator: "\n")
    }
}

/// The design's performance targets, checked against a report.
enum Targets {
    static func check(_ report: Report) -> [Report.Target] {
        var targets: [Report.Target] = []
        if let table = report.researchTable, let row = table.rows.max(by: { $0.dataBytes < $1.dataBytes }) {
            if let change = row.linkedVsFull {
                targets.append(.init(figure: 1, name: "linked vs full at \(row.size)", target: "≤ −90%",
                                     measured: Format.percent(change), met: change <= -0.90))
            }
            for n in [table.vms, table.vmsLarge].uniqued() {
                if let change = row.parallelVsSerial[String(n)] {
                    targets.append(.init(figure: 1, name: "parallel vs serial at \(row.size), N=\(n)", target: "≤ −60%",
                                         measured: Format.percent(change), met: change <= -0.60))
                }
            }
            for (key, spread) in table.perVMSpread.sorted(by: { $0.key < $1.key }) {
                targets.append(.init(figure: 1, name: "per-VM cost flat across sizes (\(key))", target: "largest/smallest ≤ +10%",
                                     measured: Format.percent(spread), met: spread <= 0.10))
            }
        }
        if let sparse = report.precopy?.sparse {
            let ratio = sparse.sentBytesPerHost.median / Double(sparse.dataBytes)
            targets.append(.init(figure: 2, name: "sparse copy moves about its data",
                                 target: "sent ≈ \(Format.bytes(sparse.dataBytes)) (±5%), not \(Format.bytes(sparse.virtualBytes))",
                                 measured: "\(Format.bytes(UInt64(sparse.sentBytesPerHost.median))) per host",
                                 met: abs(ratio - 1) <= 0.05))
        }
        if let overhead = report.overhead {
            targets.append(.init(figure: 3, name: "drove up vs hand-written loop", target: "≤ 1.10",
                                 measured: Format.ratio(overhead.upRatio.median), met: overhead.upRatio.median <= 1.10))
            if let down = overhead.down["engine"] {
                targets.append(.init(figure: 3, name: "drove down of \(overhead.vms) VMs", target: "< 5 s",
                                     measured: Format.seconds(down.median), met: down.median < 5))
            }
        }
        if let scale = report.scale {
            targets.append(.init(figure: 4, name: "plan \(scale.planner.vms) VMs on \(scale.planner.hosts) hosts", target: "< 200 ms",
                                 measured: Format.seconds(scale.planner.freshSeconds.median), met: scale.planner.freshSeconds.median < 0.2))
            if let pass = scale.pass {
                targets.append(.init(figure: 4, name: "converged pass, \(pass.hosts * pass.vmsPerHost) VMs", target: "0 mutating calls",
                                     measured: "\(pass.mutatingCalls) mutating, \(String(format: "%.2f", pass.callsPerVM)) calls per VM",
                                     met: pass.mutatingCalls == 0 && pass.actionsRun == 0))
            }
        }
        if let controller = report.controller {
            let perVM = controller.resyncCallsPerVM.median
            targets.append(.init(figure: 5, name: "converged resync, \(controller.vms) VMs on \(controller.hosts) hosts", target: "≤ 1.2 calls per VM",
                                 measured: String(format: "%.2f calls per VM", perVM), met: perVM <= 1.2))
            targets.append(.init(figure: 5, name: "converged resync changes nothing", target: "0 mutating calls",
                                 measured: "\(controller.resyncMutatingCalls) mutating", met: controller.resyncMutatingCalls == 0))
        }
        if let ready = report.timeToReady,
           let row = ready.rows.first(where: { $0.vms == 30 && $0.deviceModel == "lean" && $0.maxBooting == report.machine.processors }) {
            targets.append(.init(figure: 6, name: "30 guests ready, default maxBooting (one per CPU: \(report.machine.processors))", target: "≤ 25 s",
                                 measured: Format.seconds(row.allReadySeconds.median), met: row.allReadySeconds.median <= 25))
        }
        if let clones = report.instantClones, let row = clones.rows.first(where: { $0.vms == 30 && $0.start == "snapshot" }) {
            targets.append(.init(figure: 7, name: "30 guests ready with start: snapshot", target: "≤ 5 s",
                                 measured: Format.seconds(row.allReadySeconds.median), met: row.allReadySeconds.median <= 5))
        }
        return targets
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
