import DroveAPI
import DroveClient
import DroveLab
import DroveManifest
import DrovePlan
import Foundation
import Libvirt

/// The faults the suite injects; each trial of each is seeded, so `--seed S --trial K` replays
/// trial K exactly (the same moments, hosts and victims).
enum FaultKind: String, CaseIterable, Codable, Sendable {
    /// `drove serve` killed with SIGKILL at a random moment of a 30-VM rollout (creation, then a
    /// rolling update), restarted on the same data directory.
    case serveKill = "serve-kill"
    /// `drove up` killed with SIGKILL at a random moment of the same rollouts, then run again.
    case upKill = "up-kill"
    /// A host's libvirtd killed mid-rollout and kept down a while, then restarted.
    case libvirtdKill = "libvirtd-kill"
    /// A template copy cut off midway: `drove serve` or the receiving host's libvirtd killed.
    case copyCut = "copy-cut"
    /// A VM, a disk, a seed and a template copy removed behind Drove's back.
    case behindBack = "behind-back"
    /// Ten clients applying, scaling and deleting the same sets at once.
    case clients = "clients"
    /// A template copy that does not fit in a host's storage pool, until the pool gets room.
    case poolFull = "pool-full"
    /// Three `drove serve` replicas on one PostgreSQL database; the leader killed with SIGKILL
    /// mid-rollout (Failover.swift).
    case leaderKill = "leader-kill"
    /// The same, with the leader's connections to PostgreSQL cut instead (Failover.swift).
    case storeCut = "store-cut"

    /// What the names of a trial's sets start with (then the trial's number).
    var prefix: String {
        switch self {
        case .serveKill: "fs"
        case .upKill: "fu"
        case .libvirtdKill: "fl"
        case .copyCut: "fc"
        case .behindBack: "fb"
        case .clients: "fx"
        case .poolFull: "fp"
        case .leaderKill: "fk"
        case .storeCut: "fn"
        }
    }
}

/// One trial's outcome: what was done to the fleet, how long the fleet took to notice and to
/// converge again, and what the audit found.
struct TrialRecord: Codable, Sendable {
    var fault: FaultKind
    var trial: Int
    var seed: UInt64
    var passed: Bool = false
    /// What the fault struck, e.g. "killed 4.2 s into the creation: 17 of 30 VMs present".
    var moments: [String] = []
    /// Where in a rollout each kill struck, read from the hosts right after it.
    var kills: [KillMoment] = []
    /// Seconds from the fault until Drove reported it (a host unreachable).
    var detectSeconds: Double?
    /// Seconds from the restart (or the fault, where nothing restarts) until the fleet converged.
    var recoverSeconds: [Double] = []
    var findings = AuditFindings()
    /// leader-kill and store-cut: the takeover, the watch's check (Failover.swift).
    var failover: FailoverRecord?
    var error: String?
    var seconds: Double = 0
}

/// A kill of `drove serve` or `drove up` in a rollout: how far the rollout had come.
struct KillMoment: Codable, Sendable {
    var stage: String
    var afterSeconds: Double
    /// The set's VMs on the hosts, and those running at the spec being rolled out, of `of`.
    var present: Int
    var atSpec: Int
    var of: Int

    /// Proven mid-rollout: some VMs at the new spec, not all.
    var isMidRollout: Bool { atSpec > 0 && atSpec < of }

    var description: String {
        String(format: "killed %.1f s into the %@: %d VMs present, %d of %d at the new spec", afterSeconds, stage, present, atSpec, of)
    }
}

struct FaultTrials: Sendable {
    let fleet: FaultFleet
    let vms: Int
    /// Kill moments are drawn uniformly from [0, window].
    let window: Double
    /// How long a host stays down in `libvirtd-kill`, and the clients storm lasts.
    let hold: Duration
    let duration: Duration
    /// The template size in copy-cut.
    let copyBytes: UInt64
    /// The PostgreSQL server leader-kill and store-cut make their databases on (any database's URL).
    var postgres: String? = nil

    func run(_ kind: FaultKind, trial: Int, seed: UInt64) async -> TrialRecord {
        var record = TrialRecord(fault: kind, trial: trial, seed: seed)
        var random = Xoshiro256(seed: seed)
        let clock = ContinuousClock()
        let start = clock.now
        do {
            // Whatever an earlier, failed trial left under this trial's names goes first.
            try await fleet.scrub(prefix: kind.prefix + "\(trial)", digests: [fleet.templateDigest])
            switch kind {
            case .serveKill: try await serveKill(trial, &random, &record)
            case .upKill: try await upKill(trial, &random, &record)
            case .libvirtdKill: try await libvirtdKill(trial, &random, &record)
            case .copyCut: try await copyCut(trial, &random, &record, copyBytes: copyBytes)
            case .behindBack: try await behindBack(trial, &random, &record)
            case .clients: try await clients(trial, &random, &record)
            case .poolFull: try await poolFull(trial, &random, &record)
            case .leaderKill, .storeCut: try await failover(kind, trial, &random, &record)
            }
            record.passed = record.findings.isClean && (record.failover?.problems.isEmpty ?? true)
        } catch {
            record.error = "\(error)"
        }
        if !record.passed {
            do { try await fleet.scrub(prefix: kind.prefix + "\(trial)", digests: [fleet.templateDigest]) } catch {
                record.error = (record.error.map { $0 + "; " } ?? "") + "cleaning up: \(error)"
            }
        }
        record.seconds = seconds(clock.now - start)
        return record
    }

    func uniform(_ random: inout Xoshiro256, _ upper: Double) -> Double {
        Double(random.next() >> 11) / Double(1 << 53) * upper
    }

    func expectation(_ sets: [String: FleetExpectation.SetShape], digests: Set<String>? = nil, prefix: String) -> FleetExpectation {
        let inUse = digests ?? (sets.isEmpty ? [] : [fleet.templateDigest])
        return FleetExpectation(sets: sets, templateDigests: inUse, campaignDigests: inUse.union([fleet.templateDigest]), setPrefix: prefix)
    }

    /// Audits, adding what it finds to the record under `stage`.
    func check(_ record: inout TrialRecord, _ expected: FleetExpectation, stage: String) async throws {
        var found = try await fleet.audit(expected)
        func tag(_ list: [String]) -> [String] { list.map { "\(stage): \($0)" } }
        found.duplicateVMs = tag(found.duplicateVMs)
        found.leakedVolumes = tag(found.leakedVolumes)
        found.partialCopiesInUse = tag(found.partialCopiesInUse)
        found.foreignTouched = tag(found.foreignTouched)
        found.notConverged = tag(found.notConverged)
        record.findings.duplicateVMs += found.duplicateVMs
        record.findings.leakedVolumes += found.leakedVolumes
        record.findings.partialCopiesInUse += found.partialCopiesInUse
        record.findings.foreignTouched += found.foreignTouched
        record.findings.notConverged += found.notConverged
    }

    /// A `drove serve` with a fresh data directory (an earlier, failed run's is kept until then).
    func serve(_ name: String) throws -> ServeProcess {
        try? FileManager.default.removeItem(at: fleet.scratch.appendingPathComponent(name))
        return try ServeProcess(drove: fleet.drove, directory: fleet.scratch.appendingPathComponent(name), templateDirectory: fleet.scratch)
    }

    // MARK: serve-kill

    private func serveKill(_ trial: Int, _ random: inout Xoshiro256, _ record: inout TrialRecord) async throws {
        let set = FaultKind.serveKill.prefix + "\(trial)"
        let server = try serve("serve-kill-\(trial)")
        try await server.start()
        do {
            for (stage, memory) in [("creation", 64), ("rolling update", 80)] {
                let clock = ContinuousClock()
                let start = clock.now
                let generation = try await fleet.apply(server.client, [fleet.hostsYAML, fleet.templateYAML(),
                                                                       fleet.setYAML(set, replicas: vms, memoryMiB: memory)], set: set)
                try await untilRolledOut(target(&random), of: set, memoryMiB: memory)
                await server.killHard()
                record.kills.append(await moment(stage, set: set, memoryMiB: memory, after: clock.now - start))
                try await server.start()
                record.recoverSeconds.append(try await fleet.waitReady(server.client, set: set, generation: generation))
                try await check(&record, expectation([set: .init(replicas: vms, memoryMiB: memory)], prefix: set), stage: stage)
            }
            try await finish(server, sets: [set], prefix: set, &record)
        } catch {
            await server.killHard()
            throw error
        }
    }

    // MARK: up-kill

    private func upKill(_ trial: Int, _ random: inout Xoshiro256, _ record: inout TrialRecord) async throws {
        let set = FaultKind.upKill.prefix + "\(trial)"
        let directory = fleet.scratch.appendingPathComponent("up-kill-\(trial)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let manifest = directory.appendingPathComponent("fleet.yaml")
        let log = directory.appendingPathComponent("up.log")
        for (stage, memory) in [("creation", 64), ("rolling update", 80)] {
            try [fleet.hostsYAML, fleet.templateYAML(), fleet.setYAML(set, replicas: vms, memoryMiB: memory)]
                .joined(separator: "\n---\n").write(to: manifest, atomically: true, encoding: .utf8)
            let up = ["up", "-f", manifest.path, "--for", "running", "--timeout", "\(Int(seconds(fleet.deadline)))s"]
            let clock = ContinuousClock()
            let started = clock.now
            let first = try DroveChild(binary: fleet.drove, arguments: up, log: log)
            try await untilRolledOut(target(&random), of: set, memoryMiB: memory)
            let code = await first.killHard()
            guard code == SIGKILL else { throw BenchError("drove up had exited \(code) before it was killed:\n\(first.tail())") }
            record.kills.append(await moment(stage, set: set, memoryMiB: memory, after: clock.now - started))
            let start = clock.now
            let again = try DroveChild(binary: fleet.drove, arguments: up, log: log)
            let status = await again.status()
            guard status == 0 else { throw BenchError("drove up after the kill exited \(status):\n\(again.tail())") }
            record.recoverSeconds.append(seconds(clock.now - start))
            try await check(&record, expectation([set: .init(replicas: vms, memoryMiB: memory)], prefix: set), stage: stage)
        }
        let down = try DroveChild(binary: fleet.drove, arguments: ["down", "-f", manifest.path], log: log)
        let status = await down.status()
        guard status == 0 else { throw BenchError("drove down exited \(status):\n\(down.tail())") }
        try await check(&record, expectation([:], prefix: set), stage: "after drove down")
    }

    // MARK: libvirtd-kill

    private func libvirtdKill(_ trial: Int, _ random: inout Xoshiro256, _ record: inout TrialRecord) async throws {
        let set = FaultKind.libvirtdKill.prefix + "\(trial)"
        let server = try serve("libvirtd-kill-\(trial)")
        try await server.start()
        let client = server.client
        do {
            let documents = { (memory: Int) in [fleet.hostsYAML, fleet.templateYAML(), fleet.setYAML(set, replicas: vms, memoryMiB: memory)] }
            let first = try await fleet.apply(client, documents(64), set: set)
            _ = try await fleet.waitReady(client, set: set, generation: first)
            let victim = fleet.hosts[Int(random.next() % UInt64(fleet.hosts.count))]

            let generation = try await fleet.apply(client, documents(80), set: set)
            let delay = uniform(&random, window)
            try await Task.sleep(for: .seconds(delay))
            let clock = ContinuousClock()
            let killed = clock.now
            try await fleet.killLibvirtd(victim)
            // What the dark host holds: the domains its libvirtd had defined or running when it
            // died, from its state files (a rolling update may have moved VMs away just before).
            let onVictim = held(by: victim, set: set)
            record.moments.append(String(format: "%@'s libvirtd killed %.1f s into the rolling update (%d of its VMs)", victim.name, delay, onVictim.count))

            // Detected: the host's Ready condition goes False.
            while try await hostReady(client, victim.name) {
                guard clock.now - killed < .seconds(60) else { throw BenchError("\(victim.name) still Ready 60 s after its libvirtd died") }
                try await Task.sleep(for: .milliseconds(250))
            }
            record.detectSeconds = seconds(clock.now - killed)

            // The other hosts finish; nothing of the lost host is made elsewhere, however long it is gone.
            let others = fleet.hosts.filter { $0 != victim }
            while true {
                let placed = try await FleetAudit.audit(others, expected: expectation(
                    [set: .init(replicas: vms, memoryMiB: 80)], prefix: set), sentinels: fleet.sentinels, skipping: [victim.name])
                let count = try await others.asyncMap { try await domains(of: set, on: $0).count }.reduce(0, +)
                // Every VM not unknown (possibly on the dark host) is made, and at the new spec.
                let unknown = try await client.object(ObjectReference(kind: .vmSet, name: set)).status?.counters["unknown"] ?? 0
                if placed.notConverged.isEmpty && placed.duplicateVMs.isEmpty && count == vms - unknown { break }
                guard clock.now - killed < fleet.deadline else { throw BenchError("the other hosts did not finish: \(placed.problems.prefix(5))") }
                try await Task.sleep(for: .milliseconds(500))
            }
            try await Task.sleep(for: hold)
            var remade: [String] = []
            for host in others { remade += try await domains(of: set, on: host).filter(onVictim.contains) }
            record.findings.duplicateVMs += remade.map { "\($0) of the lost \(victim.name) was made again elsewhere" }
            let unknown = try await client.object(ObjectReference(kind: .vmSet, name: set)).status?.counters["unknown"] ?? 0
            if unknown < onVictim.count {
                record.findings.notConverged.append("while \(victim.name) was gone the set counted \(unknown) VMs unknown, fewer than the \(onVictim.count) it held")
            }

            try await fleet.restartHosts()
            let back = clock.now
            _ = try await fleet.waitReady(client, set: set, generation: generation)
            record.recoverSeconds.append(seconds(clock.now - back))
            try await check(&record, expectation([set: .init(replicas: vms, memoryMiB: 80)], prefix: set), stage: "after the host returned")
            try await finish(server, sets: [set], prefix: set, &record)
        } catch {
            await server.killHard()
            try? await fleet.restartHosts()
            throw error
        }
    }

    /// The end of every trial: deletes its sets and template, checks that nothing of them is
    /// left on any host (nor of the template `digest`, if it is the trial's own), and stops the server.
    func finish(_ server: ServeProcess, sets: [String], template: String = FaultFleet.templateName, digest: String? = nil,
                prefix: String, _ record: inout TrialRecord) async throws {
        try await fleet.deleteAndWait(server.client, sets.map { .init(kind: .vmSet, name: $0) } + [.init(kind: .template, name: template)])
        var none = expectation([:], prefix: prefix)
        if let digest { none.campaignDigests.insert(digest) }
        try await check(&record, none, stage: "after deletion")
        try await server.stop()
    }

    /// A seeded count of VMs, from 1 to two thirds of the set: the kill strikes once that many
    /// run at the new spec. (Nearer the end, the rollout may finish between a look and the kill.)
    func target(_ random: inout Xoshiro256) -> Int {
        1 + Int(random.next() % UInt64(max(1, vms * 2 / 3)))
    }

    /// Waits until `count` VMs of the set run at the spec being rolled out (at most 2 minutes).
    func untilRolledOut(_ count: Int, of set: String, memoryMiB: Int) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        while await fleet.snapshot(set: set, memoryMiB: memoryMiB).atSpec < count {
            guard clock.now - start < .seconds(120) else { throw BenchError("\(set): \(count) VMs at the new spec never came") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func moment(_ stage: String, set: String, memoryMiB: Int, after: Duration) async -> KillMoment {
        let at = await fleet.snapshot(set: set, memoryMiB: memoryMiB)
        return KillMoment(stage: stage, afterSeconds: seconds(after), present: at.present, atSpec: at.atSpec, of: vms)
    }

    /// The set's domains a host's libvirtd keeps state files for: defined (`/etc/libvirt/qemu`)
    /// or running (`/run/libvirt/qemu`), read from the lab host's directories.
    func held(by host: LabHost, set: String) -> [String] {
        let directories = ["etc/qemu", "run/qemu"].map { host.directory.appendingPathComponent($0).path }
        let files = directories.flatMap { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] }
        return Set(files.filter { $0.hasSuffix(".xml") }.map { String($0.dropLast(4)) }.filter { Naming.vm($0, belongsTo: set) }).sorted()
    }

    func hostReady(_ client: APIClient, _ name: String) async throws -> Bool {
        let host = try await client.object(ObjectReference(kind: .host, name: name))
        return host.status?.conditions.contains { $0.type == "Ready" && $0.status == "True" } ?? false
    }

    func domains(of set: String, on host: LabHost) async throws -> [String] {
        try await withConnection(host.uri) { try await $0.listAllDomains().map(\.name).filter { Naming.vm($0, belongsTo: set) } }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
