import DroveManifest
import DrovePlan
import DroveTestSupport
import Foundation
import Libvirt
import Testing
@testable import DroveHost

/// The host driver on a real lab host with real QEMU guests.
@Suite(.enabled(if: LabHost.shouldRun, "no lab host running: start one with `drove lab up`"),
       .timeLimit(.minutes(3)))
struct LibvirtHostTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-host-\(UUID().uuidString.prefix(8))")

    func connect() async throws -> LibvirtHost {
        let uri = try #require(LabHost.uri(), "CI needs a lab host: `drove lab up` did not run or failed")
        return try await LibvirtHost.connect(name: "node-1", uri: uri, pool: "default", lanes: 4)
    }

    /// A raw template: 32 MiB with a few non-zero blocks, named by a fresh digest.
    func makeTemplate() throws -> TemplateImage {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let path = scratch.appendingPathComponent("template.raw").path
        var data = Data(count: 32 << 20)
        for offset in stride(from: 0, to: data.count, by: 4 << 20) { data[offset] = 0x5a }
        try data.write(to: URL(fileURLWithPath: path))
        let digest = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        return TemplateImage(name: "tiny", digest: digest, format: "raw", path: path,
                              fileBytes: UInt64(data.count), virtualBytes: UInt64(data.count))
    }

    func vm(_ name: String, template: TemplateImage, clone: CloneMode = .linked) -> VMInstance {
        VMInstance(name: name, set: "hosttest", ordinal: 0, domainType: "qemu",
                   resources: Resources(vcpus: 1, memory: 64 << 20), nics: [NIC(network: Network(), mac: "52:00:00:00:01:01")],
                   clone: clone, template: template, specHash: "spec1")
    }

    func act(_ host: LibvirtHost, _ kind: Action.Kind) async throws {
        try await host.perform(Action(id: 0, host: host.name, kind: kind, dependsOn: []), progress: nil)
    }

    @Test func templateCloneDefineStartObserveRemove() async throws {
        let host = try await connect()
        let template = try makeTemplate()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let name = "ht-\(template.digest.prefix(6))"
        let instance = vm(name, template: template)

        try await act(host, .copyTemplate(template))
        var observed = await host.observe()
        #expect(observed.isReachable)
        #expect(observed.templates[template.digest]?.complete == true)

        try await act(host, .createDisk(instance))
        try await act(host, .defineVM(instance))
        try await act(host, .startVM(name))
        observed = await host.observe()
        let seen = try #require(observed.vms[name])
        #expect(seen.state == .running)
        #expect(seen.set == "hosttest")
        #expect(seen.templateDigest == template.digest)
        #expect(seen.volume == instance.volume)
        #expect(!observed.strayVolumes.contains(instance.volume))

        // The disk is an overlay whose backing file is the digest-named template copy.
        let connection = host.connection
        let pool = try #require(try await connection.storagePool(named: "default"))
        let disk = try #require(try await pool.volume(named: instance.volume))
        let diskXML = try await disk.xml()
        #expect(diskXML.contains(template.volume))
        #expect(diskXML.contains("<format type=\"raw\"/>") || diskXML.contains("<format type='raw'/>"))

        // Doing it all again adopts what is there.
        try await act(host, .startVM(name))
        try await act(host, .copyTemplate(template))

        try await act(host, .removeVM(name))
        try await act(host, .removeVM(name))
        observed = await host.observe()
        #expect(observed.vms[name] == nil)
        #expect(observed.strayVolumes.contains(instance.volume))
        try await act(host, .deleteVolume(instance.volume))
        try await act(host, .deleteTemplateCopy(digest: template.digest, volume: template.volume))
        observed = await host.observe()
        #expect(observed.templates[template.digest] == nil)
        #expect(!observed.strayVolumes.contains(instance.volume))
        await host.close()
    }

    @Test func aPartialTemplateCopyIsReplacedNeverUsed() async throws {
        let host = try await connect()
        let template = try makeTemplate()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let pool = try #require(try await host.connection.storagePool(named: "default"))
        // An upload cut off before its marker: the volume exists, holding nothing useful.
        _ = try await pool.createVolume(xml: VolumeXML.image(name: template.volume, format: "raw", capacity: template.fileBytes))
        var observed = await host.observe()
        #expect(observed.templates[template.digest]?.complete == false, "\(observed)")

        let instance = vm("hp-\(template.digest.prefix(6))", template: template)
        let refused = try await #require(throws: HostError.self) { try await act(host, .createDisk(instance)) }
        #expect(refused.description.contains("no complete copy"))
        #expect(refused.host == "node-1")

        try await act(host, .copyTemplate(template))
        observed = await host.observe()
        #expect(observed.templates[template.digest]?.complete == true)
        let uploaded = try #require(try await pool.volume(named: template.volume))
        #expect(try await uploaded.info().allocation > 0)
        try await act(host, .deleteTemplateCopy(digest: template.digest, volume: template.volume))
        await host.close()
    }

    @Test func aDomainDroveDidNotMakeIsLeftAlone() async throws {
        let host = try await connect()
        let name = "foreign-\(UUID().uuidString.prefix(6).lowercased())"
        let foreign = try await host.connection.defineDomain(xml: """
            <domain type='qemu'><name>\(name)</name><memory unit='MiB'>64</memory>
            <os><type arch='x86_64'>hvm</type></os></domain>
            """)
        let observed = await host.observe()
        #expect(observed.foreignDomains.contains(name))
        #expect(observed.vms[name] == nil)
        let refused = try await #require(throws: HostError.self) { try await act(host, .removeVM(name)) }
        #expect(refused.cause.contains("not made by Drove"))
        #expect(try await host.connection.domain(named: name) != nil)
        let volumeRefused = try await #require(throws: HostError.self) { try await act(host, .deleteVolume("user-data.qcow2")) }
        #expect(volumeRefused.cause.contains("not a Drove disk"))
        try await foreign.undefine()
        await host.close()
    }

    @Test func anUnreachableHostIsReportedNotThrown() async throws {
        let connection = try await Connection.open("test:///default")
        let host = LibvirtHost(name: "ghost", connection: connection, pool: "no-such-pool")
        let observed = await host.observe()
        #expect(!observed.isReachable)
        #expect(observed.unreachable?.contains("no-such-pool") == true)
        await host.close()
    }
}
