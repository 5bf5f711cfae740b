import Foundation
import DroveTestSupport
import Testing
@testable import Libvirt

/// The binding against a real libvirt daemon running real QEMU guests: a host of the lab that
/// `drove lab up` starts (CI starts one before the tests). Outside CI the suite is disabled,
/// with its reason shown, when no lab is running; under CI a missing lab fails it.
@Suite(.enabled(if: LabHost.socket != nil || LabHost.required, "no lab host running: start one with `drove lab up`"))
struct LabHostTests {
    static let namespace = "urn:drove:test:v1"

    func connect() async throws -> Connection {
        let socket = try #require(LabHost.socket, "CI needs a lab host: `drove lab up` did not run or failed")
        return try await Connection.open("qemu+unix:///system?socket=\(socket)")
    }

    func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    @Test func hostFactsFromARealDaemon() async throws {
        let connection = try await connect()
        let capabilities = try await connection.capabilities()
        #expect(capabilities.offers("qemu"))
        let info = try await connection.nodeInfo()
        #expect(info.cpus >= 1)
        #expect(try await connection.freeMemory() > 0)
        #expect(try await connection.setKeepAlive(interval: 5, count: 3))
        #expect(try await connection.storagePool(named: "default")?.info().isRunning == true)
        await connection.close()
    }

    @Test func sparseUploadSendsOnlyDataAndDownloadKeepsHoles() async throws {
        let connection = try await connect()
        let pool = try #require(try await connection.storagePool(named: "default"))
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(unique("sparse"))
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        // 64 MiB virtual, two 1 MiB islands of random data.
        let source = scratch.appendingPathComponent("source.raw").path
        let island = Data((0..<(1 << 20)).map { _ in UInt8.random(in: 1...255) })
        _ = FileManager.default.createFile(atPath: source, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: source))
        try handle.write(contentsOf: island)
        try handle.seek(toOffset: 32 << 20)
        try handle.write(contentsOf: island)
        try handle.truncate(atOffset: 64 << 20)
        try handle.close()

        let volume = try await pool.createVolume(xml: """
            <volume><name>\(unique("upload")).raw</name><capacity unit='MiB'>64</capacity>
            <allocation>0</allocation><target><format type='raw'/></target></volume>
            """)
        let progress = Locked(0)
        let sent = try await volume.upload(from: source) { _ in progress.withLock { $0 += 1 } }
        #expect(sent.dataBytes == 2 << 20)
        #expect(sent.holeBytes == 62 << 20)
        #expect(progress.withLock { $0 } > 0)
        #expect(try await volume.info().allocation < 8 << 20)

        let copy = scratch.appendingPathComponent("copy.raw").path
        let received = try await volume.download(to: copy)
        #expect(received.totalBytes == 64 << 20)
        #expect(received.dataBytes < 8 << 20)
        #expect(FileManager.default.contents(atPath: copy) == FileManager.default.contents(atPath: source))
        var info = stat()
        #expect(stat(copy, &info) == 0)
        #expect(Int(info.st_blocks) * 512 < 8 << 20)

        try await volume.delete()
        await connection.close()
    }

    @Test(.timeLimit(.minutes(2)))
    func aRealQEMUGuestOnAnOverlay() async throws {
        let connection = try await connect()
        let pool = try #require(try await connection.storagePool(named: "default"))
        let name = unique("guest")
        let base = try await pool.createVolume(xml: """
            <volume><name>\(name)-base.qcow2</name><capacity unit='MiB'>32</capacity>
            <target><format type='qcow2'/></target></volume>
            """)
        let overlay = try await pool.createVolume(xml: """
            <volume><name>\(name).qcow2</name><capacity unit='MiB'>32</capacity>
            <target><format type='qcow2'/></target>
            <backingStore><path>\(base.path)</path><format type='qcow2'/></backingStore></volume>
            """)
        #expect(try await overlay.xml().contains(base.path))

        let events = try await connection.domainEvents()
        let domain = try await connection.defineDomain(xml: """
            <domain type='qemu'>
              <name>\(name)</name>
              <memory unit='MiB'>64</memory>
              <vcpu>1</vcpu>
              <os><type arch='x86_64' machine='pc'>hvm</type></os>
              <devices>
                <disk type='file' device='disk'>
                  <driver name='qemu' type='qcow2'/>
                  <source file='\(overlay.path)'/>
                  <target dev='vda' bus='virtio'/>
                </disk>
                <serial type='pty'/>
                <graphics type='vnc' autoport='yes' listen='127.0.0.1'/>
              </devices>
            </domain>
            """)
        try await domain.setMetadata("<vm set='lab' ordinal='0'/>", key: "drove", namespace: Self.namespace)
        try await domain.start()
        #expect(try await domain.state() == .running)
        #expect(try await domain.metadata(namespace: Self.namespace)?.contains("set=\"lab\"") == true)
        // The running guest really uses the overlay, which names its backing file and format.
        let liveXML = try await domain.xml()
        #expect(liveXML.contains(overlay.path))
        #expect(liveXML.contains(base.path))

        try await domain.destroy()
        try await domain.undefine()
        var seen: [DomainEvent.Kind] = []
        for await event in events where event.domainName == name {
            seen.append(event.kind)
            if event.kind == .undefined { break }
        }
        // QEMU also reports resumed/shutdown; these four come in this order.
        #expect(seen.filter { [.defined, .started, .stopped, .undefined].contains($0) }
                == [.defined, .started, .stopped, .undefined])
        #expect(try await connection.domain(named: name) == nil)
        try await overlay.delete()
        try await base.delete()
        await connection.close()
    }

    @Test func aFullCopyOfAVolume() async throws {
        let connection = try await connect()
        let pool = try #require(try await connection.storagePool(named: "default"))
        let name = unique("full")
        let base = try await pool.createVolume(xml: """
            <volume><name>\(name)-base.qcow2</name><capacity unit='MiB'>16</capacity>
            <target><format type='qcow2'/></target></volume>
            """)
        let copy = try await pool.createVolume(
            xml: "<volume><name>\(name)-copy.qcow2</name><capacity unit='MiB'>16</capacity><target><format type='qcow2'/></target></volume>",
            copying: base)
        let copyXML = try await copy.xml()
        #expect(!copyXML.contains("<backingStore>") || !copyXML.contains(base.path))
        #expect(try await copy.info().capacity == 16 << 20)
        try await copy.delete()
        try await base.delete()
        await connection.close()
    }
}
