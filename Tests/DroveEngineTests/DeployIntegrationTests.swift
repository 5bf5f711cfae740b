import DroveHost
import DroveManifest
import DrovePlan
import DroveTestSupport
import Foundation
import Libvirt
import Synchronization
import Testing
@testable import DroveEngine

/// The reconcile engine on three real lab hosts running real QEMU guests booted from the tiny
/// template. One scenario, step by step, since every step builds on the fleet the last one left.
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(15)))
struct DeployIntegrationTests {
    let suffix = String(UUID().uuidString.prefix(4).lowercased())

    func yaml(web: Int, batch: Int, webMemory: String = "96Mi", template: String) throws -> String {
        let hosts = try #require(LabHost.hostsYAML(count: 3), "CI needs 3 lab hosts: `drove lab up --hosts 3` did not run")
        return hosts + """

            ---
            apiVersion: drove/v1
            kind: Template
            metadata: { name: tiny }
            spec: { source: { path: "\(template)" }, format: qcow2 }
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: web\(suffix) }
            spec:
              replicas: \(web)
              template: tiny
              resources: { memory: \(webMemory) }
              updateStrategy: { maxUnavailable: 2 }
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: batch\(suffix) }
            spec:
              replicas: \(batch)
              template: tiny
              resources: { memory: 96Mi }
              placement: { hostSelector: { rack: a }, spread: pack, maxPerHost: 5 }
            """
    }

    func desired(_ yaml: String, removing: Set<String> = [], prune: TemplatePruning = .none) async throws -> DesiredState {
        var manifest = try ManifestLoader().load(yaml: yaml)
        let catalog = await TemplateCatalog.read(manifest.templates)
        #expect(catalog.failures.isEmpty)
        if !removing.isEmpty { manifest.vmSets = [] }
        return DesiredState(manifest: manifest, images: catalog.images, removing: removing, pruneTemplates: prune)
    }


    func vms(_ fleet: ObservedFleet, set: String) -> [(host: String, vm: ObservedVM)] {
        fleet.hosts.values.flatMap { host in host.vms.values.filter { $0.set == set }.map { (host.name, $0) } }
    }

    @Test func deployRepairRollAndRemoveOnThreeHosts() async throws {
        let template = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        let web = "web\(suffix)", batch = "batch\(suffix)"
        let initial = try await desired(yaml(web: 12, batch: 8, template: template))
        let deployment = Engine()
        let connections = await deployment.connect(initial.manifest.hosts)
        #expect(connections.unreachable.isEmpty)
        let engine = Converger(engine: deployment, connections: connections)
        let digest = try #require(initial.images["tiny"]?.digest)

        // Something Drove did not make, which must survive everything below.
        let node1 = try await Connection.open(try #require(LabHost.uri(1)))
        let bystander = try await node1.defineDomain(xml: """
            <domain type='qemu'><name>\(web)-99</name><memory unit='MiB'>64</memory>
            <os><type arch='x86_64'>hvm</type></os></domain>
            """)
        let pool1 = try #require(try await node1.storagePool(named: "default"))
        let userVolume = try await pool1.createVolume(xml: """
            <volume><name>user-\(suffix).qcow2</name><capacity unit='MiB'>8</capacity><target><format type='qcow2'/></target></volume>
            """)

        // 1. Deploy two sets, 20 VMs.
        let first = await engine.converge(initial, timeout: .seconds(600))
        #expect(first.converged, "\(first.stopReason ?? "") \(first.failures)")
        var fleet = first.fleet
        #expect(vms(fleet, set: web).count == 12)
        #expect(vms(fleet, set: batch).count == 8)
        #expect(vms(fleet, set: web).allSatisfy { $0.vm.state == .running })
        #expect(Set(vms(fleet, set: web).map(\.host)) == ["node-1", "node-2", "node-3"])
        #expect(Set(vms(fleet, set: batch).map(\.host)).isSubset(of: ["node-1", "node-2"]))
        for (host, vm) in vms(fleet, set: web) + vms(fleet, set: batch) {
            let connection = connections.drivers[host] as! LibvirtHost
            let disk = try #require(try await connection.connection.storagePool(named: "default")?.volume(named: vm.volume))
            let xml = try await disk.xml()
            #expect(xml.contains("<backingStore>"), "\(vm.name) on \(host) is not an overlay")
            #expect(xml.contains(Naming.templateVolume(digest: digest, format: "qcow2")), "\(vm.name) is not backed by the digest-named copy")
        }

        // 2. A second pass makes no mutating call: counted by libvirt's wrapper, not by the
        // engine's own idea of what it did. Nothing else in this process calls libvirt meanwhile.
        let beforeAgain = CallStatistics.snapshot()
        let again = await engine.converge(initial, timeout: .seconds(60))
        let againCalls = CallStatistics.snapshot().since(beforeAgain)
        #expect(again.converged && again.actionsRun == 0 && again.passes == 1)
        #expect(againCalls.calls > 0, "the second pass read the hosts")
        #expect(againCalls.mutatingCalls == 0, "the second pass changed a host: \(againCalls.mutating)")

        // 3. Guests boot: they open their agent channel.
        var ready = 0
        for _ in 0..<60 {
            ready = vms(await connections.observe(), set: web).filter(\.vm.agentConnected).count
            if ready == 12 { break }
            try await Task.sleep(for: .seconds(2))
        }
        #expect(ready == 12, "guests that opened their agent channel")

        // 4. Scale web down to 9 and batch up to 10 (pack: rack a only, at most 5 per host).
        let scaled = try await desired(yaml(web: 9, batch: 10, template: template))
        let scaling = await engine.converge(scaled, timeout: .seconds(300))
        #expect(scaling.converged)
        fleet = scaling.fleet
        #expect(vms(fleet, set: web).map(\.vm.ordinal).sorted() == Array(0..<9))
        #expect(vms(fleet, set: batch).count == 10)
        #expect(Dictionary(grouping: vms(fleet, set: batch), by: \.host).mapValues(\.count) == ["node-1": 5, "node-2": 5])

        // 5. Behind Drove's back: destroy one VM, undefine another (leaving its disk).
        let victim = try #require(vms(fleet, set: web).first { $0.vm.ordinal == 0 })
        let undefined = try #require(vms(fleet, set: web).first { $0.vm.ordinal == 1 })
        let victimHost = try await Connection.open(try #require(LabHost.uri(Int(victim.host.dropFirst(5))!)))
        try await victimHost.domain(named: victim.vm.name)?.destroy()
        await victimHost.close()
        let undefinedHost = try await Connection.open(try #require(LabHost.uri(Int(undefined.host.dropFirst(5))!)))
        if let domain = try await undefinedHost.domain(named: undefined.vm.name) {
            try await domain.destroy()
            try await domain.undefine()
        }
        await undefinedHost.close()
        let repair = await engine.converge(scaled, timeout: .seconds(120))
        #expect(repair.converged)
        #expect(vms(repair.fleet, set: web).filter { $0.vm.state == .running }.count == 9)

        // 6. A spec change rolls out, never more than maxUnavailable (2) web VMs down at once:
        // watched through every host's domain events, not sampled once per pass.
        let changed = try await desired(yaml(web: 9, batch: 10, webMemory: "112Mi", template: template))
        let members = Set((0..<9).map { Naming.vmName(set: web, ordinal: $0) })
        let watch = try await UnavailabilityWatch.start(uris: (1...3).map { try #require(LabHost.uri($0)) }, members: members)
        #expect(watch.unavailable == 0, "all 9 web VMs run before the roll")
        let removalsPerPass = Mutex([Int]())
        let rolling = await engine.converge(changed, timeout: .seconds(600)) { event in
            if case let .planned(_, plan) = event {
                let removals = plan.actions.filter { if case let .removeVM(name) = $0.kind { name.hasPrefix(web) } else { false } }
                removalsPerPass.withLock { $0.append(removals.count) }
            }
        }
        // The last starts were reported before the pass that saw them: wait for their events, bounded.
        for _ in 0..<100 where watch.unavailable > 0 { try await Task.sleep(for: .milliseconds(100)) }
        let watched = await watch.stop()
        #expect(watched.stopped >= 9 && watched.started >= 9, "the watch saw every web VM replaced: \(watched)")
        #expect(watched.unavailable == 0, "all 9 web VMs run after the roll: \(watched)")
        #expect(watched.worst <= 2, "at most maxUnavailable (2) web VMs down at any moment: \(watched)")
        #expect(rolling.converged)
        #expect(removalsPerPass.withLock { $0 }.allSatisfy { $0 <= 2 })
        #expect(removalsPerPass.withLock { $0 }.reduce(0, +) == 9)
        #expect(vms(rolling.fleet, set: web).allSatisfy { $0.vm.memoryBytes == 112 << 20 && $0.vm.state == .running })

        // 7. Down: no Drove domain, disk or template copy of these manifests is left.
        let down = try await desired(yaml(web: 9, batch: 10, template: template), removing: [web, batch], prune: .declared)
        let removal = await engine.converge(down, timeout: .seconds(300))
        #expect(removal.converged)
        for (name, host) in removal.fleet.hosts {
            #expect(host.vms.values.filter { $0.set == web || $0.set == batch }.isEmpty, "VMs left on \(name)")
            #expect(host.templates[digest] == nil, "template copy left on \(name)")
            #expect(host.strayVolumes.filter { $0.contains(suffix) }.isEmpty, "disks left on \(name)")
        }

        // The bystanders survived.
        #expect(try await node1.domain(named: "\(web)-99") != nil)
        #expect(try await pool1.volume(named: "user-\(suffix).qcow2") != nil)
        try await bystander.undefine()
        try await userVolume.delete()
        await node1.close()
        await connections.close()
    }
}

/// How many of a set's VMs are not running, kept at every lifecycle event of every host (the
/// events of one host arrive in order; hosts are merged as their events arrive).
final class UnavailabilityWatch: Sendable {
    struct Summary: Sendable, CustomStringConvertible {
        /// Members not running now, and the most at any moment since the watch started.
        var unavailable = 0, worst = 0
        var members = 0
        /// Members' start and stop (or undefine, crash, pause) events seen.
        var started = 0, stopped = 0
        var description: String { "\(unavailable) down now, \(worst) at worst, \(started) starts, \(stopped) stops" }
    }

    private struct State {
        /// The hosts each member runs on (one, but a replacement could start before its old self stops).
        var running: [String: Set<String>] = [:]
        var summary = Summary()

        mutating func count() {
            summary.unavailable = summary.members - running.values.filter { !$0.isEmpty }.count
            summary.worst = max(summary.worst, summary.unavailable)
        }
    }

    private let members: Set<String>
    private let state = Mutex(State())
    private let connections: [Connection]
    private let tasks = Mutex([Task<Void, Never>]())

    private init(members: Set<String>, connections: [Connection]) {
        self.members = members
        self.connections = connections
    }

    /// Subscribes to every host's events, then reads which members run: a change between the
    /// two is in the events too.
    static func start(uris: [String], members: Set<String>) async throws -> UnavailabilityWatch {
        var connections: [Connection] = []
        for uri in uris { connections.append(try await Connection.open(uri)) }
        let watch = UnavailabilityWatch(members: members, connections: connections)
        var streams: [AsyncStream<DomainEvent>] = []
        for connection in connections { streams.append(try await connection.domainEvents()) }
        var running: [String: Set<String>] = [:]
        for connection in connections {
            for domain in try await connection.listAllDomains(activeOnly: true) where members.contains(domain.name) {
                running[domain.name, default: []].insert(connection.uri)
            }
        }
        watch.state.withLock { state in
            state.running = running
            state.summary.members = members.count
            state.count()
        }
        for (connection, stream) in zip(connections, streams) {
            let task = Task { for await event in stream { watch.record(event, on: connection.uri) } }
            watch.tasks.withLock { $0.append(task) }
        }
        return watch
    }

    private func record(_ event: DomainEvent, on host: String) {
        guard members.contains(event.domainName) else { return }
        let name = event.domainName
        state.withLock { state in
            switch event.kind {
            case .started, .resumed:
                state.running[name, default: []].insert(host)
                if event.kind == .started { state.summary.started += 1 }
            case .stopped, .shutdown, .crashed, .suspended, .pmSuspended, .undefined:
                if state.running[name]?.remove(host) != nil { state.summary.stopped += 1 }
            default: return
            }
            state.count()
        }
    }

    var unavailable: Int { state.withLock { $0.summary.unavailable } }

    /// Ends the watch and closes its connections.
    func stop() async -> Summary {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        for connection in connections { await connection.close() }
        return state.withLock { $0.summary }
    }
}

/// `drove up` killed in the middle of a template upload: the next `drove up` never uses the
/// partial copy, replaces it, and finishes.
@Suite(.serialized, .enabled(if: LabHost.shouldRun, "no lab running: `drove lab up --hosts 3`"), .timeLimit(.minutes(10)))
struct InterruptedUploadTests {
    func drove(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = LabHost.repository.appendingPathComponent(".build/debug/drove")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// The path in a volume's `<backingStore>`, if it has one.
    static func backingPath(of xml: String) -> String? {
        guard let store = xml.range(of: "<backingStore>"), let open = xml.range(of: "<path>", range: store.upperBound..<xml.endIndex),
              let close = xml.range(of: "</path>", range: open.upperBound..<xml.endIndex) else { return nil }
        return String(xml[open.upperBound..<close.lowerBound])
    }

    static func sha256(of path: String) throws -> String {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        return try TemplateCatalog.sha256(handle)
    }

    @Test func aKilledUploadIsNeverUsedAndTheNextRunFinishes() async throws {
        let uri = try #require(LabHost.uri(2), "CI needs lab host node-2")
        let suffix = String(UUID().uuidString.prefix(4).lowercased())
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-kill-\(suffix)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        // 512 MiB of real data: long enough an upload to be cut off in the middle.
        let image = scratch.appendingPathComponent("big.raw")
        _ = FileManager.default.createFile(atPath: image.path, contents: nil)
        let writer = try FileHandle(forWritingTo: image)
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        for _ in 0..<128 { try writer.write(contentsOf: random.readData(ofLength: 4 << 20)) }
        try writer.close()
        let manifest = scratch.appendingPathComponent("big.yaml")
        try """
            apiVersion: drove/v1
            kind: Host
            metadata: { name: node-2 }
            spec: { uri: "\(uri)", domainType: qemu }
            ---
            apiVersion: drove/v1
            kind: Template
            metadata: { name: big }
            spec: { source: { path: big.raw }, format: raw }
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: cut\(suffix) }
            spec: { replicas: 1, template: big, resources: { memory: 64Mi } }
            """.write(to: manifest, atomically: true, encoding: .utf8)
        let digest = try #require(await TemplateCatalog.read(try ManifestLoader().load(paths: [manifest.path]).templates).images["big"]?.digest)
        let pool = "\(LabHost.directory)/node-2/pool"
        let copy = "\(pool)/\(Naming.templateVolume(digest: digest, format: "raw"))"
        let marker = "\(pool)/\(Naming.templateReadyMarker(digest: digest))"

        // Start, wait until the upload has written some data, and kill -9.
        let first = try drove(["up", "-f", manifest.path, "--timeout", "5m"])
        var cut = false
        for _ in 0..<6000 {
            var info = stat()
            if stat(copy, &info) == 0, info.st_blocks > 0 {
                kill(first.processIdentifier, SIGKILL)
                cut = true
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        first.waitUntilExit()
        #expect(cut, "the upload was never seen starting")
        #expect(!FileManager.default.fileExists(atPath: marker), "a cut-off copy must not be marked complete")

        // The next run replaces the partial copy and finishes; the clone's backing file is the
        // now complete copy.
        let second = try drove(["up", "-f", manifest.path, "--timeout", "5m"])
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: marker))
        var info = stat()
        #expect(stat(copy, &info) == 0 && Int(info.st_size) == 512 << 20 && Int(info.st_blocks) * 512 >= 512 << 20)
        // The clone is backed by the copy under its final name, and the copy holds the template's bytes.
        let node2 = try await Connection.open(uri)
        let clone = try await node2.storagePool(named: "default")?.volume(named: Naming.diskVolume(vm: "cut\(suffix)-0"))
        let cloneXML = try await clone?.xml() ?? ""
        await node2.close()
        #expect(Self.backingPath(of: cloneXML) == copy, "the clone's backing file: \(cloneXML)")
        let templateDigest = try Self.sha256(of: image.path)
        let copyDigest = try Self.sha256(of: copy)
        #expect(templateDigest == digest)
        #expect(copyDigest == templateDigest, "the copy's content differs from the template's")

        let down = try drove(["down", "-f", manifest.path])
        down.waitUntilExit()
        #expect(down.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: copy))
        #expect(!FileManager.default.fileExists(atPath: "\(pool)/\(Naming.diskVolume(vm: "cut\(suffix)-0"))"))
    }
}
