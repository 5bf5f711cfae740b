import DroveAPI
import DroveClient
import DroveLab
import DroveManifest
import DrovePlan
import Foundation
import Libvirt
import Logging

/// What every fault trial shares: the lab's hosts (started if they are not running, left as
/// found), a scratch directory with the guests' template, the foreign sentinels, and the
/// manifests of a campaign's sets.
struct FaultFleet: Sendable {
    let lab: Lab
    let hosts: [LabHost]
    let scratch: URL
    let drove: String
    /// An empty qcow2 (guests idle in their BIOS): the faults test the controller, not guests
    /// booting, so a 30-VM rollout takes seconds, not minutes, on two cores.
    let template: URL
    let templateDigest: String
    let sentinels: ForeignSentinels
    /// How long after a fault a set must have converged again.
    let deadline: Duration

    static let templateName = "faults"

    static func prepare(labDirectory: URL, scratch: URL, drove: String, deadline: Duration) async throws -> FaultFleet {
        let lab = Lab(directory: labDirectory, logger: Logger(label: "drove-bench.faults"))
        let hosts = try await lab.up(hosts: 3)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let template = scratch.appendingPathComponent("faults.qcow2")
        if !FileManager.default.fileExists(atPath: template.path) {
            try await TemplateMaker.emptyQcow2(at: template, virtualBytes: 64 << 20)
        }
        let sentinels = try await ForeignSentinels.plant(on: hosts)
        return FaultFleet(lab: lab, hosts: hosts, scratch: scratch, drove: drove, template: template,
                          templateDigest: try FleetAudit.sha256(file: template.path), sentinels: sentinels, deadline: deadline)
    }

    func finish() async {
        await ForeignSentinels.remove(from: hosts)
    }

    // MARK: Manifests

    /// The lab's hosts, with vCPU overcommit enough for 30 one-vCPU guests on 3 hosts of 2 CPUs.
    var hostsYAML: String { hostsYAML() }

    /// The same, with one host's pool and a `pool` label changed (pool-full).
    func hostsYAML(pool: (host: String, name: String)? = nil, label: (host: String, value: String)? = nil) -> String {
        hosts.map { host in
            let labels = label?.host == host.name ? ", labels: { pool: \(label!.value) }" : ""
            return """
                apiVersion: drove/v1
                kind: Host
                metadata: { name: \(host.name)\(labels) }
                spec: { uri: "\(host.uri)", pool: \(pool?.host == host.name ? pool!.name : host.pool), domainType: \(host.domainType), overcommit: { cpu: 16 } }
                """
        }.joined(separator: "\n---\n")
    }

    func templateYAML(name: String = templateName, path: URL? = nil, format: String = "qcow2") -> String {
        """
        apiVersion: drove/v1
        kind: Template
        metadata: { name: \(name) }
        spec: { source: { path: "\((path ?? template).path)" }, format: \(format), readiness: running }
        """
    }

    func setYAML(_ name: String, replicas: Int, memoryMiB: Int, template: String = templateName, labels: [String: String] = [:],
                 maxUnavailable: Int = 10, cloudInit: Bool = false) -> String {
        let labelsYAML = labels.isEmpty ? "" : ", labels: { \(labels.sorted { $0.key < $1.key }.map { "\($0.key): \"\($0.value)\"" }.joined(separator: ", ")) }"
        return """
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: \(name)\(labelsYAML) }
            spec:
              replicas: \(replicas)
              template: \(template)
              resources: { vcpus: 1, memory: \(memoryMiB)Mi }
              updateStrategy: { maxUnavailable: \(maxUnavailable) }\(cloudInit ? "\n  cloudInit: { userData: \"#cloud-config\\n\" }" : "")
            """
    }

    func source(_ documents: [String], name: String = "faults.yaml") -> APISource {
        APISource(name: name, text: documents.joined(separator: "\n---\n"), baseDirectory: scratch.path)
    }

    // MARK: Through the API

    /// Applies and returns the generation of the VM set named `set`.
    @discardableResult
    func apply(_ client: APIClient, _ documents: [String], set: String) async throws -> Int {
        let response = try await client.apply([source(documents)])
        guard let result = response.results.first(where: { $0.kind == "VMSet" && $0.name == set }) else {
            throw BenchError("apply answered no result for vmset/\(set): \(response.results)")
        }
        return result.generation
    }

    /// Waits until the set reports Ready at `generation`; the seconds it took.
    func waitReady(_ client: APIClient, set: String, generation: Int) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        var last: APIObject?
        while clock.now - start < deadline {
            last = try? await client.objectIfPresent(ObjectReference(kind: .vmSet, name: set))
            if let status = last?.status, status.observedGeneration == generation,
               status.conditions.contains(where: { $0.type == "Ready" && $0.status == "True" }) {
                return seconds(clock.now - start)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let conditions = last?.status?.conditions.map { "\($0.type)=\($0.status) \($0.reason): \($0.message)" } ?? []
        throw BenchError("vmset/\(set) was not Ready at generation \(generation) within \(deadline): \(conditions.joined(separator: "; "))")
    }

    /// Deletes the objects and waits until the store has pruned them (their resources gone).
    func deleteAndWait(_ client: APIClient, _ references: [ObjectReference]) async throws {
        _ = try await client.delete(references)
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < deadline {
            var left: [ObjectReference] = []
            for reference in references where try await client.objectIfPresent(reference) != nil { left.append(reference) }
            if left.isEmpty { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw BenchError("\(references.map(\.description)) still there \(deadline) after their deletion")
    }

    // MARK: On the hosts

    /// The set's domains on each host, with their memory and whether they run: to show where
    /// in a rollout a fault struck.
    func snapshot(set: String, memoryMiB: Int) async -> (present: Int, atSpec: Int) {
        var present = 0, atSpec = 0
        for host in hosts {
            guard let connection = try? await Connection.open(host.uri, lanes: 2) else { continue }
            for domain in (try? await connection.listAllDomains()) ?? [] where Naming.vm(domain.name, belongsTo: set) {
                present += 1
                if let xml = try? await domain.xml(), FleetAudit.memoryMiB(in: xml) == memoryMiB,
                   (try? await domain.state())?.isUp == true { atSpec += 1 }
            }
            await connection.close()
        }
        return (present, atSpec)
    }

    func audit(_ expected: FleetExpectation, skipping: Set<String> = []) async throws -> AuditFindings {
        try await FleetAudit.audit(hosts, expected: expected, sentinels: sentinels, skipping: skipping)
    }

    /// The pid of a lab host's libvirtd.
    func libvirtdPid(_ host: LabHost) throws -> Int32 {
        guard let pid = LabProcesses.readPidFile(host.directory.appendingPathComponent("run/libvirtd.pid")) else {
            throw BenchError("\(host.name): no libvirtd pid file")
        }
        return pid
    }

    /// SIGKILL to a lab host's libvirtd (its guests keep running), returning once the process
    /// is gone: `drove lab up` would otherwise find it still there and wait on it.
    func killLibvirtd(_ host: LabHost) async throws {
        let pid = try libvirtdPid(host)
        kill(pid, SIGKILL)
        for _ in 0..<100 where LabProcesses.isAlive(pid: pid, program: .libvirtd) {
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Restarts lab hosts whose daemons are gone (`drove lab up` does the same).
    func restartHosts() async throws {
        _ = try await lab.up(hosts: hosts.count)
    }
}
