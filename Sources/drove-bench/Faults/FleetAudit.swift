import Crypto
import DroveLab
import DrovePlan
import Foundation
import Libvirt

/// What the fault suite expects on the lab after a trial: each set's replica count and guest
/// memory, and the template digests whose copies may be on the hosts.
struct FleetExpectation: Sendable {
    struct SetShape: Sendable {
        var replicas: Int
        var memoryMiB: Int
    }

    var sets: [String: SetShape] = [:]
    var templateDigests: Set<String> = []
    /// Every template digest the campaign uses: copies of other digests belong to someone else
    /// sharing the lab (other test suites), and are not judged.
    var campaignDigests: Set<String> = []
    /// The prefix every set of the campaign's names starts with: a domain with it that no
    /// expected set claims is a stray VM.
    var setPrefix: String
}

/// Drove's invariants after a trial, read from libvirt on every lab host. Each list names what
/// broke an invariant; every one must be empty.
struct AuditFindings: Codable, Sendable, Equatable {
    /// A VM on two hosts, or a VM beyond its set's replicas, or one of no set.
    var duplicateVMs: [String] = []
    /// A disk, seed, console log or template copy that nothing needs.
    var leakedVolumes: [String] = []
    /// A VM whose disk's backing file is a template copy without its ready marker, or whose
    /// content is not the template's.
    var partialCopiesInUse: [String] = []
    /// A domain or volume Drove does not own that changed.
    var foreignTouched: [String] = []
    /// An expected VM missing, not running, or not at the set's current spec.
    var notConverged: [String] = []

    var problems: [String] {
        duplicateVMs.map { "duplicate: \($0)" } + leakedVolumes.map { "leaked: \($0)" }
            + partialCopiesInUse.map { "partial copy in use: \($0)" } + foreignTouched.map { "foreign touched: \($0)" }
            + notConverged.map { "not converged: \($0)" }
    }

    var isClean: Bool { problems.isEmpty }
}

/// A domain and a volume on every host that are not Drove's (no `drove-` name, no Drove
/// metadata): made before the trials, compared after each. Drove must never touch them.
struct ForeignSentinels: Sendable {
    struct Facts: Sendable, Equatable {
        var domainUUID: String
        var domainXML: String
        var volumeCapacity: UInt64
        var volumeDigest: String
    }

    static let domainName = "faults-foreign"
    static let volumeName = "faults-foreign.raw"
    let facts: [String: Facts]

    /// Defines (not starts) the domain and writes the volume on each host, replacing any left
    /// from an earlier run.
    static func plant(on hosts: [LabHost]) async throws -> ForeignSentinels {
        var facts: [String: Facts] = [:]
        for host in hosts {
            facts[host.name] = try await withConnection(host.uri) { connection in
            guard let pool = try await connection.storagePool(named: host.pool) else { throw BenchError("\(host.name): no pool \(host.pool)") }
            if let old = try await pool.volume(named: volumeName) { try await old.delete() }
            let volume = try await pool.createVolume(xml: """
                <volume><name>\(volumeName)</name><capacity unit='bytes'>1048576</capacity>
                <target><format type='raw'/></target></volume>
                """)
            if let old = try await connection.domain(named: domainName) { try await old.undefine() }
            let domain = try await connection.defineDomain(xml: """
                <domain type='\(host.domainType)'><name>\(domainName)</name><memory unit='MiB'>32</memory>
                <os><type arch='x86_64'>hvm</type></os>
                <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>
                <source file='\(volume.path)'/><target dev='vda' bus='virtio'/></disk></devices></domain>
                """)
            return Facts(domainUUID: domain.uuid, domainXML: try await domain.xml(inactive: true),
                         volumeCapacity: try await volume.info().capacity,
                         volumeDigest: try FleetAudit.sha256(file: FleetAudit.outsidePath(volume.path, host: host)))
            }
        }
        return ForeignSentinels(facts: facts)
    }

    static func remove(from hosts: [LabHost]) async {
        for host in hosts {
            guard let connection = try? await Connection.open(host.uri, lanes: 1) else { continue }
            if let domain = try? await connection.domain(named: domainName) { try? await domain.undefine() }
            if let pool = try? await connection.storagePool(named: host.pool), let volume = try? await pool.volume(named: volumeName) {
                try? await volume.delete()
            }
            await connection.close()
        }
    }
}

enum FleetAudit {
    /// Reads every host and checks `expected`; hosts named in `skipping` (down on purpose) are
    /// not read.
    static func audit(_ hosts: [LabHost], expected: FleetExpectation, sentinels: ForeignSentinels?,
                      skipping: Set<String> = []) async throws -> AuditFindings {
        var findings = AuditFindings()
        var placements: [String: [String]] = [:]
        for host in hosts where !skipping.contains(host.name) {
            let connection = try await Connection.open(host.uri, lanes: 4)
            do {
                try await audit(host, connection, expected: expected, sentinel: sentinels?.facts[host.name],
                                into: &findings, placements: &placements)
                await connection.close()
            } catch {
                await connection.close()
                throw error
            }
        }
        for (vm, placed) in placements.sorted(by: { $0.key < $1.key }) where placed.count > 1 {
            findings.duplicateVMs.append("\(vm) on \(placed.joined(separator: " and "))")
        }
        guard skipping.isEmpty else { return findings }
        for (set, shape) in expected.sets.sorted(by: { $0.key < $1.key }) {
            for ordinal in 0..<shape.replicas where placements[Naming.vmName(set: set, ordinal: ordinal)] == nil {
                findings.notConverged.append("\(Naming.vmName(set: set, ordinal: ordinal)) is on no host")
            }
        }
        return findings
    }

    private static func audit(_ host: LabHost, _ connection: Connection, expected: FleetExpectation,
                              sentinel: ForeignSentinels.Facts?, into findings: inout AuditFindings,
                              placements: inout [String: [String]]) async throws {
        // Every pool's volumes: a trial may give a host another pool (pool-full).
        var volumes: [StorageVolume] = []
        for pool in try await connection.listAllStoragePools() where (try? await pool.info().isRunning) == true {
            volumes += try await pool.listAllVolumes()
        }
        let names = Set(volumes.map(\.name))
        var domainNames = Set<String>()

        for domain in try await connection.listAllDomains() {
            do {
                try await audit(domain, on: host, expected: expected, sentinel: sentinel, volumes: volumes, names: names,
                                into: &findings, placements: &placements, domainNames: &domainNames)
            } catch let error as LibvirtError where error.isNoDomain {
                continue // removed between the listing and its read: Drove is at work, and the audit sees it as gone
            }
        }
        try await auditVolumes(host, volumes: volumes, names: names, domainNames: domainNames, expected: expected,
                               sentinel: sentinel, into: &findings)
    }

    private static func audit(_ domain: Domain, on host: LabHost, expected: FleetExpectation, sentinel: ForeignSentinels.Facts?,
                              volumes: [StorageVolume], names: Set<String>, into findings: inout AuditFindings,
                              placements: inout [String: [String]], domainNames: inout Set<String>) async throws {
        if domain.name == ForeignSentinels.domainName {
            let xml = try await domain.xml(inactive: true)
            let active = try await domain.isActive()
            if let sentinel, domain.uuid != sentinel.domainUUID || xml != sentinel.domainXML || active {
                findings.foreignTouched.append("\(host.name): domain \(domain.name) changed")
            }
            return
        }
        guard domain.name.hasPrefix(expected.setPrefix) else { return }
        domainNames.insert(domain.name)
        placements[domain.name, default: []].append(host.name)
        guard let set = Naming.set(ofVM: domain.name), let shape = expected.sets[set],
              let ordinal = Int(domain.name.dropFirst(set.count + 1)), ordinal < shape.replicas else {
            findings.duplicateVMs.append("\(host.name): \(domain.name) belongs to no expected replica")
            return
        }
        let xml = try await domain.xml()
        let state = try await domain.state()
        if !state.isUp { findings.notConverged.append("\(host.name): \(domain.name) is \(state), not running") }
        if memoryMiB(in: xml) != shape.memoryMiB {
            findings.notConverged.append("\(host.name): \(domain.name) has \(memoryMiB(in: xml).map(String.init) ?? "?") MiB, not \(shape.memoryMiB)")
        }
        let disk = Naming.diskVolume(vm: domain.name)
        guard let volume = volumes.first(where: { $0.name == disk }) else {
            findings.notConverged.append("\(host.name): \(domain.name) has no disk volume \(disk)")
            return
        }
        try await checkBacking(of: volume, xml: try await volume.xml(), on: host, volumes: names, into: &findings)
    }

    private static func auditVolumes(_ host: LabHost, volumes: [StorageVolume], names: Set<String>, domainNames: Set<String>,
                                     expected: FleetExpectation, sentinel: ForeignSentinels.Facts?,
                                     into findings: inout AuditFindings) async throws {
        if let sentinel {
            if let volume = volumes.first(where: { $0.name == ForeignSentinels.volumeName }) {
                let digest = try sha256(file: outsidePath(volume.path, host: host))
                let capacity = try await volume.info().capacity
                if digest != sentinel.volumeDigest || capacity != sentinel.volumeCapacity {
                    findings.foreignTouched.append("\(host.name): volume \(volume.name) changed")
                }
            } else {
                findings.foreignTouched.append("\(host.name): volume \(ForeignSentinels.volumeName) is gone")
            }
        }

        for name in names.sorted() {
            switch Naming.classify(volume: name) {
            case .disk:
                if let vm = Naming.vm(ofDisk: name), vm.hasPrefix(expected.setPrefix), !domainNames.contains(vm) { findings.leakedVolumes.append("\(host.name): \(name) (no domain \(vm))") }
            case .companion(let vm):
                if vm.hasPrefix(expected.setPrefix), !domainNames.contains(vm) { findings.leakedVolumes.append("\(host.name): \(name) (no domain \(vm))") }
            case .template(let digest), .templateReady(let digest):
                if expected.campaignDigests.contains(digest), !expected.templateDigests.contains(digest) { findings.leakedVolumes.append("\(host.name): \(name) (no template needs it)") }
            case .golden(let golden, _):
                if expected.campaignDigests.contains(golden.templateDigest), !expected.templateDigests.contains(golden.templateDigest) {
                    findings.leakedVolumes.append("\(host.name): \(name) (a golden snapshot no template needs)")
                }
            case .notDroves:
                break
            }
        }
    }

    /// The disk's backing file must be a template copy with its ready marker beside it, and hold
    /// the template's bytes (its name is their SHA-256).
    private static func checkBacking(of disk: StorageVolume, xml: String, on host: LabHost, volumes: Set<String>,
                                     into findings: inout AuditFindings) async throws {
        guard let backing = element("path", in: element("backingStore", in: xml) ?? "") else {
            findings.partialCopiesInUse.append("\(host.name): \(disk.name) has no backing file")
            return
        }
        let copy = URL(fileURLWithPath: backing).lastPathComponent
        guard case .template(let digest) = Naming.classify(volume: copy) else {
            findings.partialCopiesInUse.append("\(host.name): \(disk.name) is backed by \(backing), not a template copy")
            return
        }
        guard volumes.contains(Naming.templateReadyMarker(digest: digest)) else {
            findings.partialCopiesInUse.append("\(host.name): \(disk.name) is backed by \(copy), which has no ready marker")
            return
        }
        let content = try await sha256(file: backing, on: host)
        if content != digest { findings.partialCopiesInUse.append("\(host.name): \(copy) holds sha256:\(content.prefix(12))…, not its name's bytes") }
    }

    /// A path as a lab host's libvirtd sees it, as this machine sees it: the host's
    /// `/var/lib/libvirt` is its `lib` directory; its pool is the same path inside and out.
    static func outsidePath(_ path: String, host: LabHost) -> String {
        let inside = "/var/lib/libvirt/"
        return path.hasPrefix(inside) ? host.directory.appendingPathComponent("lib").path + "/" + path.dropFirst(inside.count) : path
    }

    /// The hex SHA-256 of a file as the host's libvirtd sees it: read from this machine, or,
    /// on a filesystem mounted inside the host's namespace only, from within it.
    static func sha256(file path: String, on host: LabHost) async throws -> String {
        let outside = outsidePath(path, host: host)
        if FileManager.default.fileExists(atPath: outside) { return try sha256(file: outside) }
        guard let pid = LabProcesses.readPidFile(host.directory.appendingPathComponent("run/libvirtd.pid")) else {
            throw BenchError("\(host.name): cannot read \(path): no libvirtd to read it through")
        }
        let result = try await Subprocess.run("/usr/bin/nsenter", ["-t", "\(pid)", "-m", "--", "/usr/bin/sha256sum", path])
        guard result.code == 0, let digest = result.output.split(separator: " ").first else {
            throw BenchError("\(host.name): sha256sum \(path) in its namespace: \(result.output)")
        }
        return String(digest)
    }

    /// The hex SHA-256 of a file's bytes.
    static func sha256(file path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw BenchError("cannot read \(path)") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The text of the first `<name>…</name>` element in `xml` (libvirt's XML; enough for the
    /// few fields read here).
    static func element(_ name: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(name)"), let start = xml[open.upperBound...].firstIndex(of: ">"),
              let close = xml.range(of: "</\(name)>", range: xml.index(after: start)..<xml.endIndex) else { return nil }
        return String(xml[xml.index(after: start)..<close.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The domain's `<memory unit='KiB'>` in MiB.
    static func memoryMiB(in xml: String) -> Int? {
        guard let open = xml.range(of: "<memory"), let start = xml[open.upperBound...].firstIndex(of: ">"),
              let close = xml.range(of: "</memory>", range: start..<xml.endIndex),
              let kib = Int(xml[xml.index(after: start)..<close.lowerBound]) else { return nil }
        return kib / 1024
    }
}

/// Runs `body` on a fresh connection to `uri`, closing it whatever happens.
func withConnection<T>(_ uri: String, lanes: Int = 2, _ body: (Connection) async throws -> T) async throws -> T {
    let connection = try await Connection.open(uri, lanes: lanes)
    do {
        let result = try await body(connection)
        await connection.close()
        return result
    } catch {
        await connection.close()
        throw error
    }
}

extension FaultFleet {
    /// Removes what a trial may have left on the hosts (after a failure): the domains and
    /// volumes of VMs named with `prefix`, and copies of the campaign's templates. Nothing else
    /// on the lab is touched.
    func scrub(prefix: String, digests: Set<String>) async throws {
        try await scrub(digests: digests) { $0.hasPrefix(prefix) }
    }

    /// Removes what any earlier campaign left: VMs of sets named like its trials'.
    func scrubEarlierCampaigns() async throws {
        try await scrub(digests: [templateDigest]) { name in
            FaultKind.allCases.contains { name.hasPrefix($0.prefix) && name.dropFirst($0.prefix.count).first?.isNumber == true }
        }
    }

    private func scrub(digests: Set<String>, matching isOurs: @escaping @Sendable (String) -> Bool) async throws {
        for host in hosts {
            try await withConnection(host.uri) { connection in
                for domain in try await connection.listAllDomains() where isOurs(domain.name) {
                    if try await domain.isActive() { try await domain.destroy() }
                    try await domain.undefine()
                }
                guard let pool = try await connection.storagePool(named: host.pool) else { return }
                for volume in try await pool.listAllVolumes() {
                    let ours: Bool = switch Naming.classify(volume: volume.name) {
                    case .disk: Naming.vm(ofDisk: volume.name).map(isOurs) ?? false
                    case .companion(let vm): isOurs(vm)
                    case .template(let digest), .templateReady(let digest): digests.contains(digest)
                    case .golden(let golden, _): digests.contains(golden.templateDigest)
                    case .notDroves: false
                    }
                    if ours { try await volume.delete() }
                }
            }
        }
    }
}
