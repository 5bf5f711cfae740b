import DrovePlan
import DroveTestSupport
import Foundation
import Libvirt
import Testing
@testable import DroveHost

/// The instant-clone chain by hand on a real lab host (issue 15): a golden VM booted from the
/// tiny template with the identity channel and a genid, saved into a pool volume; clones made
/// by copying its memory image and rewriting the save header to their identity, restored at
/// once, given their identity over the channel; then checked (names, UUIDs, MACs, genids,
/// console hostnames and random values, DHCP addresses) and timed. Prints its findings.
///
/// Opt-in (it boots a guest and restores several): DROVE_INSTANT_LAB=1, with a lab running
/// (DROVE_LAB_DIR) and the tiny template built. DROVE_INSTANT_CLONES sets how many clones (3);
/// DROVE_INSTANT_FIXTURE=PATH writes the golden's save header there (a test fixture).
/// Controls for the RNG: DROVE_INSTANT_NO_SEED=1 sends no RNG seed in the identity line;
/// DROVE_INSTANT_SAME_GENID=1 gives every clone the golden's genid; DROVE_INSTANT_EXPECT_SAME=1
/// expects the clones' random values to be equal rather than distinct; DROVE_INSTANT_NO_GENID=1
/// makes a golden without `<genid>` (no vmgenid device); DROVE_INSTANT_NO_MAC=1 sends no MACs
/// (the guest keeps what its restored NIC says).
@Suite(.enabled(if: LabHost.socket != nil && ProcessInfo.processInfo.environment["DROVE_INSTANT_LAB"] != nil,
                "set DROVE_INSTANT_LAB=1 with a lab host running"),
       .timeLimit(.minutes(10)))
struct InstantCloneLabTests {
    let suffix = UUID().uuidString.prefix(6).lowercased()
    let network = "drove-lab"

    static func clock() -> ContinuousClock.Instant { .now }
    static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
    static func randomMAC() -> String {
        "52:54:00:" + (0..<3).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined(separator: ":")
    }
    static func randomHex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// Polls the live XML until the channel named `name` is connected.
    static func waitConnected(_ domain: Domain, channel name: String, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let xml = try await domain.xml()
            if channelState(xml, name) == "connected" { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    static func channelState(_ xml: String, _ name: String) -> String? {
        guard let range = xml.range(of: "name='\(name)'") ?? xml.range(of: "name=\"\(name)\"") else { return nil }
        let rest = xml[range.upperBound...].prefix(while: { $0 != ">" })
        guard let state = rest.range(of: "state='") else { return "(no state)" }
        return String(rest[state.upperBound...].prefix(while: { $0 != "'" }))
    }

    static func element(_ xml: String, _ name: String) -> String? {
        guard let open = xml.range(of: "<\(name)>"), let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex) else { return nil }
        return String(xml[open.upperBound..<close.lowerBound])
    }

    func log(_ line: String) { print("instant: \(line)") }
    static func env(_ name: String) -> Bool { ProcessInfo.processInfo.environment[name] != nil }

    @Test func goldenSaveAndConcurrentClones() async throws {
        let uri = try #require(LabHost.uri())
        let templatePath = try #require(LabHost.tinyTemplate, "build the tiny template first")
        let cloneCount = Int(ProcessInfo.processInfo.environment["DROVE_INSTANT_CLONES"] ?? "") ?? 3
        let connection = try await Connection.open(uri, lanes: 8)
        let pool = try #require(try await connection.storagePool(named: "default"))
        var volumes: [StorageVolume] = []
        var domains: [String] = []
        func cleanUp() async {
            for name in domains {
                if let domain = try? await connection.domain(named: name) {
                    try? await domain.destroy()
                    try? await domain.undefine()
                }
            }
            for volume in volumes.reversed() { try? await volume.delete() }
        }

        do {
            log("lab \(uri), libvirt \(try await connection.libvirtVersion())")
            // 1. The template in the pool, and the golden's disk, seed and console log.
            let templateBytes = try FileManager.default.attributesOfItem(atPath: templatePath)[.size] as! UInt64
            let header = try #require(try FileHandle(forReadingAtPath: templatePath)?.read(upToCount: 32))
            let virtualBytes = header[24..<32].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let template = try await pool.createVolume(xml: VolumeXML.image(name: "instant-\(suffix)-template.qcow2", format: "qcow2", capacity: templateBytes))
            volumes.append(template)
            try await template.upload(from: templatePath)

            func seedVolume(_ vm: String) async throws -> StorageVolume {
                let made = try await SeedImage.make(Seed(metaData: "instance-id: \"\(vm)\"\nlocal-hostname: \"\(vm)\"\n",
                                                         userData: "#!/bin/sh\necho user-data of $(hostname)\n", networkConfig: nil), for: vm)
                defer { try? FileManager.default.removeItem(at: made.directory) }
                let size = try FileManager.default.attributesOfItem(atPath: made.image.path)[.size] as! UInt64
                let volume = try await pool.createVolume(xml: VolumeXML.image(name: "instant-\(vm).seed.iso", format: "raw", capacity: size))
                volumes.append(volume)
                try await volume.upload(from: made.image.path)
                log("seed of \(vm): \(size) bytes")
                return volume
            }
            func logVolume(_ vm: String) async throws -> StorageVolume {
                let volume = try await pool.createVolume(xml: VolumeXML.image(name: "instant-\(vm).console.log", format: "raw", capacity: 0))
                volumes.append(volume)
                return volume
            }

            let golden = "instant-\(suffix)-golden"
            let goldenDisk = try await pool.createVolume(xml: VolumeXML.overlay(
                name: "instant-\(golden).qcow2", capacity: virtualBytes, backingPath: template.path, backingFormat: "qcow2"))
            volumes.append(goldenDisk)
            let goldenSeed = try await seedVolume(golden)
            let goldenLog = try await logVolume(golden)
            let goldenGenid: String? = Self.env("DROVE_INSTANT_NO_GENID") ? nil : UUID().uuidString.lowercased()
            let goldenMAC = Self.randomMAC()
            let metadata = VMMetadata(set: "instant", ordinal: 0, specHash: "golden", templateDigest: "instant\(suffix)",
                                      volume: goldenDisk.name, vcpus: 1, memoryBytes: 96 << 20)
            let definition = DomainDefinition(
                name: golden, domainType: "qemu", vcpus: 1, memoryBytes: 96 << 20, cpuMode: .default,
                diskPath: goldenDisk.path, diskFormat: "qcow2", interfaces: [.init(attachment: .network(network), mac: goldenMAC)],
                seedPath: goldenSeed.path, consoleLogPath: goldenLog.path, metadata: metadata,
                genid: goldenGenid, identityChannel: true)

            // 2. Boot the golden until its guest holds the identity port open.
            let bootStart = Self.clock()
            let goldenDomain = try await connection.defineDomain(xml: definition.xml())
            domains.append(golden)
            try await goldenDomain.start()
            let connected = try await Self.waitConnected(goldenDomain, channel: DomainDefinition.identityChannelName, timeout: .seconds(120))
            let bootTime = Self.clock() - bootStart
            let goldenLive = try await goldenDomain.xml()
            log("golden booted to the identity wait in \(Self.seconds(bootTime)); identity channel state: \(Self.channelState(goldenLive, DomainDefinition.identityChannelName) ?? "none"); agent channel state: \(Self.channelState(goldenLive, "org.qemu.guest_agent.0") ?? "none")")
            #expect(connected, "the golden's identity channel never showed state='connected'")
            // The guest opens the port just before it prints that it waits, and virtlogd
            // writes the log a moment later: give the line up to 5 s.
            var goldenConsole = ""
            for _ in 0..<50 {
                goldenConsole = String(decoding: try await goldenLog.download(offset: 0), as: UTF8.self)
                if goldenConsole.contains("golden: waiting for an identity") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            log("golden console tail: \(goldenConsole.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | "))")
            #expect(goldenConsole.contains("golden: waiting for an identity"))

            // 3. Save it into a pool volume (a raw volume made first, saved over through its path).
            let image = try await pool.createVolume(xml: VolumeXML.image(name: "instant-\(golden).save", format: "raw", capacity: 0))
            volumes.append(image)
            let saveStart = Self.clock()
            try await goldenDomain.save(to: image.path)
            let saveTime = Self.clock() - saveStart
            let imageBytes = try await image.info().capacity
            log("saved in \(Self.seconds(saveTime)): \(imageBytes) bytes (\(imageBytes >> 20) MiB) for 96 MiB of guest memory; golden now \(try await goldenDomain.state())")

            let headBytes = try await image.download(offset: 0, length: 256 << 10)
            let saveHeader = try SaveImageHeader(parsing: headBytes)
            log("header: version \(saveHeader.version), data_len \(saveHeader.dataLength), was_running \(saveHeader.wasRunning), compressed \(saveHeader.compressed), cookieOffset \(saveHeader.cookieOffset), XML \(saveHeader.xml.utf8.count) bytes, cookie \(saveHeader.cookie?.utf8.count ?? 0) bytes, slack \(saveHeader.slack) bytes, stream at \(saveHeader.totalBytes)")
            log("header XML:\n\(saveHeader.xml)")
            log("header cookie:\n\(saveHeader.cookie ?? "(none)")")
            if let fixture = ProcessInfo.processInfo.environment["DROVE_INSTANT_FIXTURE"] {
                try Data(headBytes.prefix(saveHeader.totalBytes)).write(to: URL(fileURLWithPath: fixture))
                log("wrote the header (\(saveHeader.totalBytes) bytes) to \(fixture)")
            }

            // 4. Clones: disk overlay of the golden's disk, own seed and log, memory image copy
            // with the rewritten header.
            struct Clone: Sendable {
                var name: String, uuid: String, mac: String, genid: String?, imagePath: String, log: StorageVolume, image: StorageVolume
            }
            var clones: [Clone] = []
            for index in 1...cloneCount {
                let name = "instant-\(suffix)-c\(index)"
                let disk = try await pool.createVolume(xml: VolumeXML.overlay(
                    name: "instant-\(name).qcow2", capacity: virtualBytes, backingPath: goldenDisk.path, backingFormat: "qcow2"))
                volumes.append(disk)
                let seed = try await seedVolume(name)
                let cloneLog = try await logVolume(name)
                let identity = CloneIdentity(
                    name: name, uuid: UUID().uuidString.lowercased(), macs: [Self.randomMAC()], diskPath: disk.path,
                    seedPath: seed.path, consoleLogPath: cloneLog.path,
                    metadata: VMMetadata(set: "instant", ordinal: index, specHash: "clone", templateDigest: "instant\(suffix)",
                                         volume: disk.name, vcpus: 1, memoryBytes: 96 << 20),
                    genid: Self.env("DROVE_INSTANT_SAME_GENID") || goldenGenid == nil ? goldenGenid : UUID().uuidString.lowercased())
                let cloneXML = try CloneXML.rewrite(saveHeader.xml, to: identity)
                let (_, headerBytes) = try saveHeader.rewritten(xml: cloneXML)
                let copyStart = Self.clock()
                let (copy, reflinked) = try await pool.createVolumeReporting(
                    xml: VolumeXML.image(name: "instant-\(name).save", format: "raw", capacity: imageBytes), copying: image, reflink: true)
                volumes.append(copy)
                let copyTime = Self.clock() - copyStart
                let uploadStart = Self.clock()
                try await copy.upload(bytes: headerBytes, at: 0)
                let uploadTime = Self.clock() - uploadStart
                let check = try SaveImageHeader(parsing: try await copy.download(offset: 0, length: UInt64(saveHeader.totalBytes)))
                #expect(check.xml == cloneXML)
                log("\(name): image copied in \(Self.seconds(copyTime)) (reflink: \(reflinked)), header (\(headerBytes.count) bytes, slack left \(check.slack)) uploaded in \(Self.seconds(uploadTime))")
                clones.append(Clone(name: name, uuid: identity.uuid, mac: identity.macs[0], genid: identity.genid,
                                    imagePath: copy.path, log: cloneLog, image: copy))
            }

            // 5. Restore them all at once, give each its identity, wait for its agent channel.
            let allStart = Self.clock()
            let results = try await withThrowingTaskGroup(of: (String, Duration, Duration, Duration, Int, Double, Double).self) { group in
                for clone in clones {
                    domains.append(clone.name)
                    group.addTask {
                        let start = Self.clock()
                        let domain = try await connection.restoreDomain(from: clone.imagePath, named: clone.name)
                        let restored = Self.clock() - start
                        let cpuAtRestore = Self.qemuCPUSeconds(of: clone.name) ?? -1
                        // Is the image still open by anyone once restore returned?
                        let holders = Self.openers(of: clone.image.name)
                        let channel = try await domain.openChannel(name: DomainDefinition.identityChannelName)
                        let seed = Self.env("DROVE_INSTANT_NO_SEED") ? "-" : Self.randomHex(32)
                        let macs = Self.env("DROVE_INSTANT_NO_MAC") ? "" : " \(clone.mac)"
                        try await channel.send(Array("v1 \(seed)\(macs)\n".utf8))
                        var answer = ""
                        for try await bytes in channel.output {
                            answer += String(decoding: bytes, as: UTF8.self)
                            if answer.contains("\n") { break }
                        }
                        await channel.close()
                        let identified = Self.clock() - start
                        #expect(answer.hasPrefix("ok"), "the guest answered \(answer)")
                        let ready = try await Self.waitConnected(domain, channel: "org.qemu.guest_agent.0", timeout: .seconds(60))
                        #expect(ready)
                        let total = Self.clock() - start
                        return (clone.name, restored, identified, total, holders, Self.qemuCPUSeconds(of: clone.name) ?? -1, cpuAtRestore)
                    }
                }
                var all: [(String, Duration, Duration, Duration, Int, Double, Double)] = []
                for try await result in group { all.append(result) }
                return all
            }
            let allTime = Self.clock() - allStart
            for (name, restored, identified, ready, holders, cpu, cpuAtRestore) in results.sorted(by: { $0.0 < $1.0 }) {
                log("\(name): restore returned after \(Self.seconds(restored)) (processes holding its image then: \(holders)), identity answered after \(Self.seconds(identified)), agent connected (ready) after \(Self.seconds(ready)); QEMU CPU \(String(format: "%.2f", cpu)) s, of which \(String(format: "%.2f", cpuAtRestore)) s by the time restore returned")
            }
            let readies = results.map { Double($0.3.components.seconds) + Double($0.3.components.attoseconds) / 1e18 }.sorted()
            let restores = results.map { Double($0.1.components.seconds) + Double($0.1.components.attoseconds) / 1e18 }.sorted()
            let cpus = results.map(\.5).sorted()
            let restoreCPUs = results.map(\.6).sorted()
            log(String(format: "summary: %d clones; restore median %.2f s max %.2f s; ready median %.2f s max %.2f s; QEMU CPU median %.2f s (%.2f s at restore); load %@",
                       results.count, restores[restores.count / 2], restores.last!, readies[readies.count / 2], readies.last!, cpus[cpus.count / 2],
                       restoreCPUs[restoreCPUs.count / 2],
                       (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? "?"))
            log("all \(cloneCount) clones ready \(Self.seconds(allTime)) after the first restore began")

            // The per-clone images are no longer needed.
            for clone in clones {
                try await clone.image.delete()
                volumes.removeAll { $0.name == clone.image.name }
            }

            // 6. Check identities, consoles and addresses.
            try await Task.sleep(for: .seconds(1))
            let leases = try await connection.network(named: network)?.dhcpLeases() ?? []
            log("golden MAC \(goldenMAC); leases: \(leases.map { "\($0.mac) \($0.address) \($0.hostname ?? "-")" })")
            var randoms: [String] = []
            var resumeRandoms: [String] = []
            var genids: [String] = []
            for clone in clones {
                let domain = try #require(try await connection.domain(named: clone.name))
                let xml = try await domain.xml()
                let liveGenid = Self.element(xml, "genid") ?? "(none)"
                genids.append(liveGenid)
                #expect(domain.uuid == clone.uuid)
                #expect(xml.contains(clone.mac))
                #expect(!xml.contains(goldenMAC))
                let console = String(decoding: try await clone.log.download(offset: 0), as: UTF8.self)
                let lines = console.split(whereSeparator: \.isNewline).map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
                let cloneLine = lines.first { $0.contains("drove-guest: clone ") } ?? "(none)"
                let random = cloneLine.components(separatedBy: " random ").last?.split(separator: " ").first.map(String.init) ?? ""
                randoms.append(random)
                let atResume = lines.first { $0.contains("drove-guest: random at resume ") }?.components(separatedBy: "random at resume ").last ?? "(none)"
                resumeRandoms.append(atResume)
                #expect(cloneLine.contains("clone \(clone.name) random"), "console: \(console)")
                let address = lines.first { $0.contains("drove-guest: address eth0") } ?? "(none)"
                let lease = leases.first { $0.mac.lowercased() == clone.mac }
                log("\(clone.name): uuid \(domain.uuid), mac \(clone.mac), genid written \(clone.genid ?? "none") live \(liveGenid), console '\(cloneLine)', '\(address)', lease \(lease.map { "\($0.address) \($0.hostname ?? "")" } ?? "none")")
                log("\(clone.name) console:\n\(console)")
                #expect(lease != nil, "no DHCP lease for \(clone.mac)")
            }
            log("golden genid \(goldenGenid ?? "none"); clones' live genids distinct: \(Set(genids).count == genids.count)")
            log("random values: \(randoms)")
            log("random values at resume: \(resumeRandoms) (distinct: \(Set(resumeRandoms).count) of \(resumeRandoms.count))")
            if Self.env("DROVE_INSTANT_EXPECT_SAME") {
                #expect(Set(randoms).count == 1, "clones printed different random values: \(randoms)")
            } else {
                #expect(Set(randoms).count == randoms.count, "clones printed the same random value: \(randoms)")
            }
            #expect(Set(leases.filter { l in clones.contains { $0.mac == l.mac.lowercased() } }.map(\.address)).count == clones.count)
        } catch {
            Issue.record(error)
        }
        await cleanUp()
        await connection.close()
    }

    /// The baseline: the same template booted as a plain VM (no identity channel), timed from
    /// start to its agent channel connected. Opt-in: DROVE_INSTANT_BASELINE=1.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DROVE_INSTANT_BASELINE"] != nil))
    func bootBaseline() async throws {
        let uri = try #require(LabHost.uri())
        let templatePath = try #require(LabHost.tinyTemplate)
        let count = Int(ProcessInfo.processInfo.environment["DROVE_INSTANT_BOOTS"] ?? "") ?? 1
        let connection = try await Connection.open(uri, lanes: 8)
        let pool = try #require(try await connection.storagePool(named: "default"))
        var volumes: [StorageVolume] = []
        var names: [String] = []
        do {
            let templateBytes = try FileManager.default.attributesOfItem(atPath: templatePath)[.size] as! UInt64
            let head = try #require(try FileHandle(forReadingAtPath: templatePath)?.read(upToCount: 32))
            let virtualBytes = head[24..<32].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let template = try await pool.createVolume(xml: VolumeXML.image(name: "instant-\(suffix)-template.qcow2", format: "qcow2", capacity: templateBytes))
            volumes.append(template)
            try await template.upload(from: templatePath)
            var definitions: [(String, DomainDefinition, StorageVolume)] = []
            for index in 1...count {
                let name = "instant-\(suffix)-boot\(index)"
                let disk = try await pool.createVolume(xml: VolumeXML.overlay(name: "instant-\(name).qcow2", capacity: virtualBytes, backingPath: template.path, backingFormat: "qcow2"))
                volumes.append(disk)
                let made = try await SeedImage.make(Seed(metaData: "instance-id: \"\(name)\"\nlocal-hostname: \"\(name)\"\n", userData: "#!/bin/sh\necho user-data of $(hostname)\n", networkConfig: nil), for: name)
                defer { try? FileManager.default.removeItem(at: made.directory) }
                let size = try FileManager.default.attributesOfItem(atPath: made.image.path)[.size] as! UInt64
                let seed = try await pool.createVolume(xml: VolumeXML.image(name: "instant-\(name).seed.iso", format: "raw", capacity: size))
                volumes.append(seed)
                try await seed.upload(from: made.image.path)
                let logVolume = try await pool.createVolume(xml: VolumeXML.image(name: "instant-\(name).console.log", format: "raw", capacity: 0))
                volumes.append(logVolume)
                definitions.append((name, DomainDefinition(
                    name: name, domainType: "qemu", vcpus: 1, memoryBytes: 96 << 20, cpuMode: .default, diskPath: disk.path, diskFormat: "qcow2",
                    interfaces: [.init(attachment: .network(network), mac: Self.randomMAC())], seedPath: seed.path, consoleLogPath: logVolume.path,
                    metadata: VMMetadata(set: "instant", ordinal: 100 + index, specHash: "boot", templateDigest: "instant\(suffix)", volume: disk.name, vcpus: 1, memoryBytes: 96 << 20)), logVolume))
            }
            let allStart = Self.clock()
            let results = try await withThrowingTaskGroup(of: (String, Double, Double, Bool).self) { group in
                for (name, definition, _) in definitions {
                    names.append(name)
                    group.addTask {
                        let start = Self.clock()
                        let domain = try await connection.defineDomain(xml: definition.xml())
                        try await domain.start()
                        let ready = try await Self.waitConnected(domain, channel: "org.qemu.guest_agent.0", timeout: .seconds(180))
                        let elapsed = Self.clock() - start
                        return (name, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                                Self.qemuCPUSeconds(of: name) ?? -1, ready)
                    }
                }
                var all: [(String, Double, Double, Bool)] = []
                for try await result in group { all.append(result) }
                return all
            }
            let all = Self.clock() - allStart
            for (name, elapsed, cpu, ready) in results.sorted(by: { $0.0 < $1.0 }) {
                log(String(format: "boot baseline %@: started to agent connected in %.2f s (ready: %@), QEMU CPU %.2f s", name, elapsed, ready ? "yes" : "no", cpu))
            }
            let times = results.map(\.1).sorted(), cpus = results.map(\.2).sorted()
            log(String(format: "boot summary: %d boots, all ready after %@; ready median %.2f s max %.2f s; QEMU CPU median %.2f s; load %@",
                       results.count, Self.seconds(all), times[times.count / 2], times.last!, cpus[cpus.count / 2],
                       (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? "?"))
            if let (_, _, logVolume) = definitions.first {
                log("boot baseline console:\n\(String(decoding: try await logVolume.download(offset: 0), as: UTF8.self))")
            }
        } catch {
            Issue.record(error)
        }
        for name in names {
            if let domain = try? await connection.domain(named: name) {
                try? await domain.destroy()
                try? await domain.undefine()
            }
        }
        for volume in volumes.reversed() { try? await volume.delete() }
        await connection.close()
    }

    /// CPU seconds (user + system) the QEMU process of domain `name` has used so far.
    static func qemuCPUSeconds(of name: String) -> Double? {
        let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in processes where Int(pid) != nil {
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains("guest=\(name),"),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.range(of: ") ", options: .backwards) else { continue }
            let fields = stat[close.upperBound...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        return nil
    }

    /// How many processes on this machine hold a file whose path ends in `name` open.
    static func openers(of name: String) -> Int {
        let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var count = 0
        for pid in processes where Int(pid) != nil {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            if fds.contains(where: { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)"))?.hasSuffix(name) == true }) {
                count += 1
            }
        }
        return count
    }
}
