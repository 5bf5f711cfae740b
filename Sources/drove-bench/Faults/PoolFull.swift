import DroveAPI
import DroveClient
import DroveLab
import DroveManifest
import DrovePlan
import Foundation
import Libvirt

/// A storage pool on a filesystem of its own and of a fixed size, inside one lab host: a tmpfs
/// mounted in the host's mount namespace (so its libvirtd, and nothing else, sees it).
struct SmallPool: Sendable {
    static let name = "faults-small"
    let host: LabHost

    var directory: URL { host.directory.appendingPathComponent("faults-small-pool") }

    private func inNamespace(_ arguments: [String]) async throws {
        guard let pid = LabProcesses.readPidFile(host.directory.appendingPathComponent("run/libvirtd.pid")) else {
            throw BenchError("\(host.name): no libvirtd")
        }
        try await Subprocess.check("/usr/bin/nsenter", ["-t", "\(pid)", "-m", "--"] + arguments)
    }

    func create(mebibytes: Int) async throws {
        await remove()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await inNamespace(["/bin/mount", "-t", "tmpfs", "-o", "size=\(mebibytes)m", "drove-faults-small", directory.path])
        try await withConnection(host.uri) { connection in
            let pool = try await connection.defineStoragePool(xml: """
                <pool type='dir'><name>\(Self.name)</name><target><path>\(directory.path)</path></target></pool>
                """)
            try await pool.start()
        }
    }

    /// Gives the filesystem room (remounted larger, its contents kept).
    func grow(mebibytes: Int) async throws {
        try await inNamespace(["/bin/mount", "-o", "remount,size=\(mebibytes)m", directory.path])
    }

    /// Deletes whatever the pool holds, then the pool, then the filesystem.
    func remove() async {
        try? await withConnection(host.uri) { connection in
            guard let pool = try await connection.storagePool(named: Self.name) else { return }
            for volume in (try? await pool.listAllVolumes()) ?? [] { try? await volume.delete() }
            try? await pool.stop()
            try? await pool.undefine()
        }
        try? await inNamespace(["/bin/umount", directory.path])
        try? FileManager.default.removeItem(at: directory)
    }
}

extension FaultTrials {
    /// A set bound to one host whose pool is a 64 MiB filesystem, and a template of 96 MiB: the
    /// copy cannot fit. The set's status must name the host, the pool and the bytes needed;
    /// retries back off; nothing half-made stays in the pool; given room, the set converges.
    func poolFull(_ trial: Int, _ random: inout Xoshiro256, _ record: inout TrialRecord) async throws {
        let set = FaultKind.poolFull.prefix + "\(trial)"
        let name = "faults-big"
        let host = fleet.hosts[fleet.hosts.count - 1]
        let small = SmallPool(host: host)
        let bytes: UInt64 = 96 << 20
        let file = fleet.scratch.appendingPathComponent("big-\(trial).raw")
        try TemplateMaker.writeRandom(to: file, extents: [(0, bytes)], length: bytes, seed: random.next())
        defer { try? FileManager.default.removeItem(at: file) }
        let digest = try FleetAudit.sha256(file: file.path)
        try await small.create(mebibytes: 64)
        let server = try serve("pool-full-\(trial)")
        try await server.start()
        let client = server.client
        do {
            let hosts = fleet.hostsYAML(pool: (host.name, SmallPool.name), label: (host.name, "small"))
            let placed = fleet.setYAML(set, replicas: 2, memoryMiB: 64, template: name)
                .replacingOccurrences(of: "  replicas: 2", with: "  replicas: 2\n  placement: { hostSelector: { pool: small } }")
            let generation = try await fleet.apply(client, [hosts, fleet.templateYAML(name: name, path: file, format: "raw"), placed], set: set)

            // The cause, on the set's status, within a pass or two.
            let clock = ContinuousClock()
            let start = clock.now
            var message = ""
            while !(message.contains(host.name) && message.contains(SmallPool.name) && message.contains("needs")) {
                guard clock.now - start < .seconds(60) else { throw BenchError("no status named the full pool within 60 s; last: \(message)") }
                try await Task.sleep(for: .milliseconds(250))
                let status = try await client.object(ObjectReference(kind: .vmSet, name: set)).status
                message = status?.conditions.map(\.message).joined(separator: " | ") ?? ""
            }
            record.detectSeconds = seconds(clock.now - start)
            record.moments.append("status: \(message.prefix(300))")

            // Retries back off: the passes that tried the copy (each tries it up to 3 times) come
            // further and further apart; and nothing of the copy is left in the pool.
            try await Task.sleep(for: .seconds(20))
            let passes = try await copyFailures(client, set: set)
            let gaps = zip(passes.dropFirst(), passes).map { $0.timeIntervalSince($1) }
            record.moments.append("\(passes.count) passes tried the copy in \(String(format: "%.0f", (passes.last ?? .now).timeIntervalSince(passes.first ?? .now))) s, "
                                  + "gaps \(gaps.map { String(format: "%.1f", $0) }.joined(separator: ", ")) s")
            if passes.count > 12 || (gaps.last ?? 0) <= (gaps.first ?? 0) {
                record.findings.notConverged.append("copy retries do not back off: \(passes.count) passes in 20 s, gaps \(gaps)")
            }
            let left = try await withConnection(host.uri) { try await $0.storagePool(named: SmallPool.name)?.volumeNames() ?? [] }
            record.findings.leakedVolumes += left.filter { $0.contains(digest) }.map { "\(host.name): \($0) half-made in the full pool" }

            try await small.grow(mebibytes: 256)
            let grown = clock.now
            _ = try await fleet.waitReady(client, set: set, generation: generation)
            record.recoverSeconds.append(seconds(clock.now - grown))
            try await check(&record, expectation([set: .init(replicas: 2, memoryMiB: 64)], digests: [digest], prefix: set), stage: "once the pool had room")
            try await finish(server, sets: [set], template: name, digest: digest, prefix: set, &record)
            await small.remove()
        } catch {
            await server.killHard()
            await small.remove()
            throw error
        }
    }

    /// When each pass that failed to copy ended (its failed attempts are written together).
    private func copyFailures(_ client: APIClient, set: String) async throws -> [Date] {
        let times = try await client.events(of: ObjectReference(kind: .vmSet, name: set), tail: 1000).items
            .filter { $0.reason == "ActionFailed" && $0.message.contains("copy") }.map(\.time)
        return Set(times).sorted()
    }
}
