import ArgumentParser
import Foundation

/// `drove-bench faults`: the fault suite. Runs seeded trials of each fault on the lab, audits
/// the fleet after each (duplicate VMs, leaked volumes, partial copies in use, foreign objects
/// touched, sets not converged: all must be zero), prints a table and writes JSON. Exit status 1
/// if any trial failed. See docs/reliability.md.
struct Faults: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faults",
        abstract: "Inject faults into rollouts on the lab and check that Drove converges with nothing lost, doubled or leaked.",
        discussion: """
            The campaign in docs/reliability.md (about 45 minutes):
              scripts/faults.sh
            One fault, one trial, replayed exactly from its printed seed:
              drove-bench faults serve-kill --seed 42 --trials 8 --trial 7
            Uses the lab in --lab-dir, starting its hosts if they are not running (and leaving
            them running: `drove lab down --dir DIR` stops them).
            """)

    @Argument(help: "Faults to inject: \(FaultKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: all).")
    var faults: [FaultKind] = FaultKind.allCases

    @Option(help: "Trials of each fault.")
    var trials = 3

    @Option(help: "The campaign's seed (default: random, printed). Trial K of a fault uses a seed derived from it and K.")
    var seed: UInt64?

    @Option(help: "Run only trial K (with the same --seed, it replays that trial).")
    var trial: Int?

    @Option(help: "VMs in the rollouts of serve-kill, up-kill and libvirtd-kill.")
    var vms = 30

    @Option(help: "libvirtd-kill strikes at a moment drawn uniformly from [0, window] seconds into a rolling update (serve-kill and up-kill strike once a seeded number of VMs, 1 to two thirds of --vms, run at the new spec).")
    var window = 8.0

    @Option(help: "Seconds a host stays down in libvirtd-kill, after the other hosts finished.")
    var hold = 15

    @Option(help: "Seconds the clients storm lasts.")
    var duration = 60

    @Option(help: "Seconds a fleet has to converge after a fault.")
    var deadline = 300

    @Option(help: "The template size for copy-cut, in MiB (large enough to catch its copy in flight).")
    var copySize = 384

    @Option(help: "The PostgreSQL server of leader-kill and store-cut (a URL of a role that may CREATE DATABASE; each trial makes a database of its own and drops it). Default: $DROVE_TEST_POSTGRES_URL, else /var/lib/drove/postgres-test/url (scripts/postgres.sh).")
    var postgres: String?

    @Option(help: "The lab's directory.")
    var labDir = "/var/lib/drove/lab-faults"

    @Option(help: "Scratch directory (templates, data directories, logs); deleted after a passing run.")
    var scratch = "/var/tmp/drove-faults"

    @Option(help: "Where to write every trial's record as JSON.")
    var json = "drove-faults.json"

    @Option(help: "The drove CLI (default: next to drove-bench).")
    var drove: String?

    func validate() throws {
        if trials < 1 { throw ValidationError("--trials must be at least 1") }
        if let trial, !(0..<trials).contains(trial) { throw ValidationError("--trial must be in 0..<\(trials)") }
        if vms < 1 || window < 0 || hold < 0 || duration < 1 || deadline < 10 || copySize < 1 {
            throw ValidationError("--vms, --duration, --deadline and --copy-size must be positive")
        }
    }

    func run() async throws {
        guard getuid() == 0 else { throw ValidationError("drove-bench faults needs root: it starts and kills libvirt daemons") }
        let binary = drove ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("drove").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw ValidationError("no drove CLI at \(binary) (--drove)") }
        let campaignSeed = seed ?? UInt64.random(in: 1..<UInt64(1 << 32))
        Progress.say("campaign seed \(campaignSeed) (replay a trial with --seed \(campaignSeed) --trials \(trials) --trial K)")

        let scratchURL = URL(fileURLWithPath: scratch, isDirectory: true)
        let fleet = try await FaultFleet.prepare(labDirectory: URL(fileURLWithPath: labDir, isDirectory: true), scratch: scratchURL,
                                                 drove: binary, deadline: .seconds(deadline))
        try await fleet.scrubEarlierCampaigns()
        let runner = FaultTrials(fleet: fleet, vms: vms, window: window, hold: .seconds(hold), duration: .seconds(duration),
                                 copyBytes: UInt64(copySize) << 20, postgres: PostgresServer.locate(postgres))
        var records: [TrialRecord] = []
        for fault in faults {
            for index in trial.map({ [$0] }) ?? Array(0..<trials) {
                let trialSeed = FaultTrials.seed(campaign: campaignSeed, fault: fault, trial: index)
                Progress.say("\(fault.rawValue) trial \(index) (seed \(trialSeed))")
                let record = await runner.run(fault, trial: index, seed: trialSeed)
                for moment in record.kills.map(\.description) + record.moments { Progress.say("  \(moment)") }
                Progress.say("  \(record.passed ? "passed" : "FAILED") in \(String(format: "%.0f", record.seconds)) s"
                             + (record.error.map { ": \($0)" } ?? "")
                             + (record.findings.problems + (record.failover?.problems ?? [])).prefix(10).map { "\n    \($0)" }.joined())
                records.append(record)
            }
        }
        await fleet.finish()

        let report = FaultReport(seed: campaignSeed, vms: vms, records: records)
        print(report.table())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        Progress.say("wrote \(json)")
        if report.failed > 0 { throw ExitCode(1) }
        try? FileManager.default.removeItem(at: scratchURL)
    }
}

extension FaultKind: ExpressibleByArgument {}

extension FaultTrials {
    /// Trial K of a fault's seed: the campaign's, mixed with the fault and K, so replaying one
    /// trial needs only the campaign's seed.
    static func seed(campaign: UInt64, fault: FaultKind, trial: Int) -> UInt64 {
        var mix = Xoshiro256(seed: campaign ^ UInt64(FaultKind.allCases.firstIndex(of: fault)! + 1) << 40 ^ UInt64(trial))
        return mix.next()
    }
}

/// Every trial of a campaign, and per fault: trials, passes, time to detect and to recover.
struct FaultReport: Codable, Sendable {
    var seed: UInt64
    var vms: Int
    var records: [TrialRecord]

    var failed: Int { records.filter { !$0.passed }.count }

    func table() -> String {
        var table = TextTable("fault", "trials", "passed", "detect (median/max)", "recover (median/max)", "duplicates", "leaks", "partial", "foreign", "unconverged")
        for fault in FaultKind.allCases {
            let mine = records.filter { $0.fault == fault }
            guard !mine.isEmpty else { continue }
            let detect = mine.compactMap(\.detectSeconds)
            let recover = mine.flatMap(\.recoverSeconds)
            func spread(_ values: [Double]) -> String {
                values.isEmpty ? "-" : String(format: "%.1f s / %.1f s", Summary(values).median, Summary(values).max)
            }
            table.add([fault.rawValue, "\(mine.count)", "\(mine.filter(\.passed).count)", spread(detect), spread(recover),
                       "\(mine.map(\.findings.duplicateVMs.count).reduce(0, +))", "\(mine.map(\.findings.leakedVolumes.count).reduce(0, +))",
                       "\(mine.map(\.findings.partialCopiesInUse.count).reduce(0, +))", "\(mine.map(\.findings.foreignTouched.count).reduce(0, +))",
                       "\(mine.map(\.findings.notConverged.count).reduce(0, +) + mine.filter { $0.error != nil }.count)"])
        }
        return table.render() + FailoverRecord.table(records)
    }
}
