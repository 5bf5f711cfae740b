import DroveAPI
import DroveClient
import DroveLab
import DroveManifest
import DrovePlan
import Foundation
import Libvirt
import Synchronization

extension FaultTrials {
    // MARK: copy-cut

    /// A template of `copyBytes` random bytes (new ones each trial, so a new copy), cut off
    /// while its copy to a host is in flight: by killing `drove serve` (even trials) or the
    /// receiving host's libvirtd (odd trials). No VM may ever run on the partial copy; the
    /// copy is made again in full.
    func copyCut(_ trial: Int, _ random: inout Xoshiro256, _ record: inout TrialRecord, copyBytes: UInt64) async throws {
        let set = FaultKind.copyCut.prefix + "\(trial)"
        let name = "faults-copy"
        let file = fleet.scratch.appendingPathComponent("copy-\(trial).raw")
        try TemplateMaker.writeRandom(to: file, extents: [(0, copyBytes)], length: copyBytes, seed: random.next())
        defer { try? FileManager.default.removeItem(at: file) }
        let digest = try FleetAudit.sha256(file: file.path)
        let copyName = Naming.templateVolume(digest: digest, format: "raw")
        let marker = Naming.templateReadyMarker(digest: digest)
        let server = try serve("copy-cut-\(trial)")
        try await server.start()
        let watchdog = PartialCopyWatchdog(hosts: fleet.hosts, set: set, marker: marker)
        let watching = Task { await watchdog.run() }
        do {
            let generation = try await fleet.apply(server.client, [fleet.hostsYAML, fleet.templateYAML(name: name, path: file, format: "raw"),
                                                                   fleet.setYAML(set, replicas: 3, memoryMiB: 64, template: name)], set: set)
            // Wait for a copy in flight: the volume there, its ready marker not yet.
            let clock = ContinuousClock()
            let start = clock.now
            var cut: LabHost?
            while cut == nil {
                for host in fleet.hosts {
                    let names = try await withConnection(host.uri) { try await $0.storagePool(named: host.pool)?.volumeNames() ?? [] }
                    // In flight: the volume there, some of its bytes written, its ready marker not yet.
                    var facts = stat()
                    let path = host.directory.appendingPathComponent("pool/\(copyName)").path
                    if names.contains(copyName) && !names.contains(marker) && stat(path, &facts) == 0 && facts.st_blocks > 0 {
                        cut = host
                        break
                    }
                }
                guard clock.now - start < .seconds(60) else { throw BenchError("no copy of \(copyName) was seen in flight (make --copy-size larger)") }
                if cut == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            guard let host = cut else { return }
            let byServer = trial % 2 == 0
            if byServer {
                await server.killHard()
            } else {
                try await fleet.killLibvirtd(host)
            }
            var facts = stat()
            let partial = stat(host.directory.appendingPathComponent("pool/\(copyName)").path, &facts) == 0 ? UInt64(facts.st_blocks) * 512 : 0
            record.moments.append("copy to \(host.name) cut by killing \(byServer ? "drove serve" : "its libvirtd") \(String(format: "%.1f", seconds(clock.now - start))) s after the apply (\(partial >> 20) of \(copyBytes >> 20) MiB written)")
            if byServer { try await server.start() } else { try await fleet.restartHosts() }
            record.recoverSeconds.append(try await fleet.waitReady(server.client, set: set, generation: generation))
            watching.cancel()
            record.findings.partialCopiesInUse += watchdog.violations
            // The copy on the host it was cut on is whole now.
            let names = try await withConnection(host.uri) { try await $0.storagePool(named: host.pool)?.volumeNames() ?? [] }
            if !names.contains(marker) { record.findings.notConverged.append("\(host.name): \(copyName) has no ready marker after recovery") }
            let content = try FleetAudit.sha256(file: host.directory.appendingPathComponent("pool/\(copyName)").path)
            if content != digest { record.findings.partialCopiesInUse.append("\(host.name): \(copyName) holds other bytes after recovery") }
            try await check(&record, expectation([set: .init(replicas: 3, memoryMiB: 64)], digests: [digest], prefix: set), stage: "after the cut")
            try await finish(server, sets: [set], template: name, digest: digest, prefix: set, &record)
        } catch {
            watching.cancel()
            await server.killHard()
            try? await fleet.restartHosts()
            try? await fleet.scrub(prefix: set, digests: [digest])
            throw error
        }
    }

    // MARK: behind-back

    /// A converged set of 6; then, behind Drove's back: one VM undefined, another's disk
    /// deleted, a third's seed deleted, and a host's template copy (and its marker) deleted.
    /// Drove must repair each.
    func behindBack(_ trial: Int, _ random: inout Xoshiro256, _ record: inout TrialRecord) async throws {
        let set = FaultKind.behindBack.prefix + "\(trial)"
        let replicas = 6
        let server = try serve("behind-back-\(trial)")
        try await server.start()
        do {
            let generation = try await fleet.apply(server.client, [fleet.hostsYAML, fleet.templateYAML(),
                                                                   fleet.setYAML(set, replicas: replicas, memoryMiB: 64, cloudInit: true)], set: set)
            _ = try await fleet.waitReady(server.client, set: set, generation: generation)
            var placed: [(vm: String, host: LabHost)] = []
            for host in fleet.hosts {
                placed += try await withConnection(host.uri) { try await $0.listAllDomains() }
                    .map(\.name).filter { Naming.vm($0, belongsTo: set) }.map { ($0, host) }
            }
            placed.shuffle(using: &random)
            guard placed.count >= 3 else { throw BenchError("only \(placed.count) VMs of \(set) found") }
            let copyHost = fleet.hosts[Int(random.next() % UInt64(fleet.hosts.count))]
            let copy = Naming.templateVolume(digest: fleet.templateDigest, format: "qcow2")
            let seeds = try await seedsPresent(set)

            try await withConnection(placed[0].host.uri) { connection in
                guard let domain = try await connection.domain(named: placed[0].vm) else { return }
                try await domain.destroy()
                try await domain.undefine()
            }
            try await deleteVolume(Naming.diskVolume(vm: placed[1].vm), on: placed[1].host)
            try await deleteVolume(Naming.seedVolume(vm: placed[2].vm), on: placed[2].host)
            try await deleteVolume(Naming.templateReadyMarker(digest: fleet.templateDigest), on: copyHost)
            try await deleteVolume(copy, on: copyHost)
            record.moments.append("removed: domain \(placed[0].vm) (\(placed[0].host.name)), disk of \(placed[1].vm) (\(placed[1].host.name)), seed of \(placed[2].vm) (\(placed[2].host.name)), template copy on \(copyHost.name)")

            let clock = ContinuousClock()
            let start = clock.now
            let expected = expectation([set: .init(replicas: replicas, memoryMiB: 64)], prefix: set)
            var left: [String] = []
            repeat {
                try await Task.sleep(for: .milliseconds(500))
                // Drove is repairing meanwhile: a domain may go between the audit's listing and its read.
                left = (try? await fleet.audit(expected).problems) ?? ["the audit raced a repair"]
                let seedsNow = try await seedsPresent(set)
                left += seeds.subtracting(seedsNow).sorted().map { "seed of \($0) missing" }
                let names = try await withConnection(copyHost.uri) { try await $0.storagePool(named: copyHost.pool)?.volumeNames() ?? [] }
                if !names.contains(copy) || !names.contains(Naming.templateReadyMarker(digest: fleet.templateDigest)) {
                    left.append("\(copyHost.name): template copy not made again")
                }
            } while !left.isEmpty && clock.now - start < fleet.deadline
            record.recoverSeconds.append(seconds(clock.now - start))
            record.findings.notConverged += left.map { "not repaired within \(fleet.deadline): \($0)" }
            try await check(&record, expected, stage: "after repair")
            try await finish(server, sets: [set], prefix: set, &record)
        } catch {
            await server.killHard()
            throw error
        }
    }

    /// The VMs of `set` whose seed volume is there, on any host.
    private func seedsPresent(_ set: String) async throws -> Set<String> {
        var found = Set<String>()
        for host in fleet.hosts {
            let names = try await withConnection(host.uri) { try await $0.storagePool(named: host.pool)?.volumeNames() ?? [] }
            for name in names {
                if case .companion(let vm) = Naming.classify(volume: name), name == Naming.seedVolume(vm: vm), Naming.vm(vm, belongsTo: set) {
                    found.insert(vm)
                }
            }
        }
        return found
    }

    private func deleteVolume(_ name: String, on host: LabHost) async throws {
        try await withConnection(host.uri) { connection in
            guard let volume = try await connection.storagePool(named: host.pool)?.volume(named: name) else {
                throw BenchError("\(host.name): no volume \(name) to remove")
            }
            try await volume.delete()
        }
    }

    // MARK: clients

    /// Ten clients apply, scale and delete the same three sets at once for `duration`. Then:
    /// each set's final state is one a write left that no accepted write began after;
    /// generations seen on the watch never go backwards while an object lives; the fleet
    /// converges on the final state and nothing leaks.
    func clients(_ trial: Int, _ random: inout Xoshiro256, _ record: inout TrialRecord) async throws {
        let sets = ["a", "b", "c"].map { FaultKind.clients.prefix + "\(trial)\($0)" }
        let server = try serve("clients-\(trial)")
        try await server.start()
        let client = server.client
        do {
            _ = try await client.apply([fleet.source([fleet.hostsYAML, fleet.templateYAML()])])
            let changes = Mutex<[APIObjectChange]>([])
            let watching = Task {
                for try await message in client.watch() where message.event == "object" {
                    if let change = message.decode(APIObjectChange.self), sets.contains(change.name) { changes.withLock { $0.append(change) } }
                }
            }
            try await Task.sleep(for: .milliseconds(500))

            let clock = ContinuousClock()
            let end = clock.now + duration
            let seeds = (0..<10).map { _ in random.next() }
            let writes = await withTaskGroup(of: [ClientWrite].self) { group in
                for (index, seed) in seeds.enumerated() {
                    group.addTask { await storm(client: client, index: index, seed: seed, sets: sets, until: end) }
                }
                return await group.reduce(into: []) { $0 += $1 }
            }
            try await Task.sleep(for: .seconds(1))
            watching.cancel()
            let accepted = writes.filter(\.accepted)
            record.moments.append("\(writes.count) writes by 10 clients in \(duration), \(accepted.count) accepted")

            var expected: [String: FleetExpectation.SetShape] = [:]
            var waits: [(String, Int)] = []
            for set in sets {
                let mine = accepted.filter { $0.set == set }
                let object = try await client.objectIfPresent(ObjectReference(kind: .vmSet, name: set))
                if let object, !object.deletionRequested {
                    guard let last = mine.first(where: { $0.label == object.labels["write"] && !$0.isDelete }) else {
                        record.findings.notConverged.append("\(set): its stored state (write \(object.labels["write"] ?? "?")) is no accepted write")
                        continue
                    }
                    let later = mine.filter { $0.start > last.end }
                    if !later.isEmpty { record.findings.notConverged.append("\(set): holds write \(last.label), but \(later.map(\.label)) were accepted after it") }
                    expected[set] = .init(replicas: last.replicas, memoryMiB: last.memoryMiB)
                    waits.append((set, object.generation))
                } else {
                    let deletes = mine.filter(\.isDelete)
                    if !deletes.contains(where: { delete in !mine.contains { !$0.isDelete && $0.start > delete.end } }) {
                        record.findings.notConverged.append("\(set): gone, but an accepted apply began after every accepted delete")
                    }
                }
            }
            for set in sets {
                var generation = 0
                for change in changes.withLock({ $0 }) where change.name == set {
                    if change.type == "pruned" { generation = 0; continue }
                    guard let next = change.generation else { continue }
                    if next < generation { record.findings.notConverged.append("\(set): generation went back from \(generation) to \(next)") }
                    generation = next
                }
            }
            for (set, generation) in waits {
                record.recoverSeconds.append(try await fleet.waitReady(client, set: set, generation: generation))
            }
            try await waitPruned(client, sets)
            try await check(&record, expectation(expected, prefix: FaultKind.clients.prefix + "\(trial)"), stage: "after the storm")
            try await finish(server, sets: sets, prefix: FaultKind.clients.prefix + "\(trial)", &record)
        } catch {
            await server.killHard()
            throw error
        }
    }

    /// Waits until sets whose deletion was asked for are gone from the store.
    private func waitPruned(_ client: APIClient, _ sets: [String]) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < fleet.deadline {
            var pending = false
            for set in sets where try await client.objectIfPresent(ObjectReference(kind: .vmSet, name: set))?.deletionRequested == true {
                pending = true
            }
            if !pending { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw BenchError("sets still being deleted \(fleet.deadline) after the storm")
    }

    private func storm(client: APIClient, index: Int, seed: UInt64, sets: [String], until end: ContinuousClock.Instant) async -> [ClientWrite] {
        var random = Xoshiro256(seed: seed)
        var writes: [ClientWrite] = []
        let clock = ContinuousClock()
        while clock.now < end {
            let set = sets[Int(random.next() % UInt64(sets.count))]
            var write = ClientWrite(set: set, label: "c\(index)-\(writes.count)", isDelete: random.next() % 100 < 15,
                                    replicas: Int(random.next() % 5), memoryMiB: random.next() % 2 == 0 ? 64 : 80, start: clock.now, end: clock.now)
            do {
                if write.isDelete {
                    _ = try await client.delete([ObjectReference(kind: .vmSet, name: set)])
                } else {
                    _ = try await fleet.apply(client, [fleet.setYAML(set, replicas: write.replicas, memoryMiB: write.memoryMiB, labels: ["write": write.label])], set: set)
                }
                write.accepted = true
            } catch {
                write.accepted = false
            }
            write.end = clock.now
            writes.append(write)
            try? await Task.sleep(for: .milliseconds(Int(random.next() % 200)))
        }
        return writes
    }
}

/// One client write in the `clients` storm.
struct ClientWrite: Sendable {
    var set: String
    var label: String
    var isDelete: Bool
    var replicas: Int
    var memoryMiB: Int
    var start: ContinuousClock.Instant
    var end: ContinuousClock.Instant
    var accepted = false
}

/// Polls every 200 ms: a VM of the set on a host whose template copy has no ready marker yet
/// would be a VM on a partial copy.
final class PartialCopyWatchdog: Sendable {
    let hosts: [LabHost]
    let set: String
    let marker: String
    private let found = Mutex<[String]>([])

    var violations: [String] { found.withLock { $0 } }

    init(hosts: [LabHost], set: String, marker: String) {
        self.hosts = hosts
        self.set = set
        self.marker = marker
    }

    func run() async {
        while !Task.isCancelled {
            for host in hosts {
                let set = set
                guard let seen = try? await withConnection(host.uri, lanes: 1, { connection in
                    (try await connection.listAllDomains().map(\.name).filter { Naming.vm($0, belongsTo: set) },
                     try await connection.storagePool(named: host.pool)?.volumeNames() ?? [])
                }) else { continue } // the host may be down on purpose
                if !seen.0.isEmpty && !seen.1.contains(marker) {
                    found.withLock { $0.append("\(host.name): \(seen.0.sorted()) defined while its template copy had no ready marker") }
                }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }
}
