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

    /// A running domain's id (`<domain … id='N'>`), new each time it starts.
    static func runtimeID(_ xml: String) -> String? {
        guard let open = xml.range(of: "<domain"), let close = xml.range(of: ">", range: open.upperBound..<xml.endIndex) else { return nil }
        let tag = xml[open.upperBound..<close.lowerBound]
        guard let id = tag.range(of: " id='") ?? tag.range(of: " id=\"") else { return nil }
        return String(tag[id.upperBound...].prefix { $0.isNumber })
    }

    /// A file's inode and change time: a file deleted and made again, or rewritten, differs.
    static func fileIdentity(_ path: String) throws -> [Int] {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path]) }
        return [Int(info.st_ino), Int(info.st_ctim.tv_sec), Int(info.st_ctim.tv_nsec), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec)]
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

        // Doing it all again adopts what is there: the running guest is not restarted (its
        // runtime id stays), and the complete copy is neither deleted nor uploaded again.
        let copyPath = try #require(try await pool.volume(named: template.volume)).path
        let markerPath = try #require(try await pool.volume(named: Naming.templateReadyMarker(digest: template.digest))).path
        let guestBefore = try #require(try await connection.domain(named: name))
        let idBefore = Self.runtimeID(try await guestBefore.xml())
        let copyBefore = try Self.fileIdentity(copyPath), markerBefore = try Self.fileIdentity(markerPath)
        try await act(host, .startVM(name))
        try await act(host, .copyTemplate(template))
        let guestAfter = try #require(try await connection.domain(named: name))
        #expect(try await guestAfter.isActive())
        #expect(guestAfter.uuid == guestBefore.uuid)
        let idAfter = Self.runtimeID(try await guestAfter.xml())
        #expect(idBefore != nil && idAfter == idBefore, "the guest was restarted")
        #expect(try Self.fileIdentity(copyPath) == copyBefore, "the template copy was made again")
        #expect(try Self.fileIdentity(markerPath) == markerBefore, "the ready marker was made again")
        observed = await host.observe()
        #expect(observed.vms[name]?.state == .running)
        #expect(observed.templates[template.digest]?.complete == true)

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
        // A volume that exists and is not Drove's is refused, and is still there after.
        let pool = try #require(try await host.connection.storagePool(named: "default"))
        let userVolume = "user-data-\(name).qcow2"
        _ = try await pool.createVolume(xml: VolumeXML.image(name: userVolume, format: "qcow2", capacity: 8 << 20))
        let volumeRefused = try await #require(throws: HostError.self) { try await act(host, .deleteVolume(userVolume)) }
        #expect(volumeRefused.cause.contains("not a Drove disk"))
        #expect(try await pool.volume(named: userVolume) != nil, "the refused volume was deleted")
        try await foreign.undefine()
        try await pool.volume(named: userVolume)?.delete()
        await host.close()
    }
}

/// The host driver against libvirt's built-in test driver: no lab needed, so these always run.
@Suite struct LibvirtHostTestDriverTests {
    @Test func anUnreachableHostIsReportedNotThrown() async throws {
        let connection = try await Connection.open("test:///default")
        let host = LibvirtHost(name: "ghost", connection: connection, pool: "no-such-pool")
        let observed = await host.observe()
        #expect(!observed.isReachable)
        #expect(observed.unreachable?.contains("no-such-pool") == true)
        await host.close()
    }
}
