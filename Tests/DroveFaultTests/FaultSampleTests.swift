import DroveTestSupport
import Foundation
import Testing

/// CI's sample of the fault suite: one trial of every fault, run by the same code as the long
/// campaign (`drove-bench faults`, docs/reliability.md), on the lab the test command started.
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(20)))
struct FaultSampleTests {
    /// The parts of `drove-bench faults --json` this test reads.
    struct Report: Decodable {
        struct Record: Decodable {
            struct Kill: Decodable { var present: Int; var atSpec: Int; var of: Int }
            struct Findings: Decodable {
                var duplicateVMs: [String]
                var leakedVolumes: [String]
                var partialCopiesInUse: [String]
                var foreignTouched: [String]
                var notConverged: [String]
            }
            var fault: String
            var passed: Bool
            var kills: [Kill]
            var detectSeconds: Double?
            var recoverSeconds: [Double]
            var findings: Findings
            var error: String?
        }
        var records: [Record]
    }

    @Test func oneTrialOfEveryFaultConvergesWithNothingDoubledLeakedOrTouched() throws {
        let bench = LabHost.repository.appendingPathComponent(".build/debug/drove-bench")
        #expect(FileManager.default.isExecutableFile(atPath: bench.path), "build first: swift build")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-faults-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let json = scratch.appendingPathComponent("faults.json")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)

        let process = Process()
        process.executableURL = bench
        process.arguments = ["faults", "--trials", "1", "--vms", "30", "--hold", "5", "--duration", "20", "--deadline", "240",
                             "--lab-dir", LabHost.directory, "--scratch", scratch.appendingPathComponent("work").path, "--json", json.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text.suffix(4000))")

        let report = try JSONDecoder().decode(Report.self, from: try Data(contentsOf: json))
        #expect(Set(report.records.map(\.fault)) == ["serve-kill", "up-kill", "libvirtd-kill", "copy-cut", "behind-back", "clients", "pool-full"])
        for record in report.records {
            #expect(record.passed, "\(record.fault): \(record.error ?? "") \(record.findings)")
            #expect(record.findings.duplicateVMs.isEmpty && record.findings.leakedVolumes.isEmpty
                    && record.findings.partialCopiesInUse.isEmpty && record.findings.foreignTouched.isEmpty)
            #expect(!record.recoverSeconds.isEmpty, "\(record.fault) never converged after its fault")
        }
        // A kill of the controller or of `drove up` strikes mid-rollout, as the hosts show it.
        let kills = report.records.filter { $0.fault == "serve-kill" || $0.fault == "up-kill" }.flatMap(\.kills)
        #expect(kills.count == 4)
        for kill in kills { #expect(kill.atSpec > 0 && kill.atSpec < kill.of, "not mid-rollout: \(kill)") }
        // A host whose libvirtd died is reported unreachable well within 30 s.
        let detect = try #require(report.records.first { $0.fault == "libvirtd-kill" }?.detectSeconds)
        #expect(detect < 30)
    }
}
