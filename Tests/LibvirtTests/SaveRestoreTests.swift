import Foundation
import Testing
@testable import Libvirt

/// Save, restore, channels and copies for instant clones, against `test:///default` (which
/// saves into a file of its own format rather than QEMU's).
@Suite struct SaveRestoreTests {
    func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    func domainXML(_ name: String) -> String {
        """
        <domain type='test'>
          <name>\(name)</name>
          <memory unit='MiB'>64</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64'>hvm</type></os>
          <devices>
            <channel type='unix'><target type='virtio' name='org.drove.identity.0'/></channel>
          </devices>
        </domain>
        """
    }

    @Test func aSavedDomainStopsAndIsRestoredByName() async throws {
        let connection = try await Connection.open("test:///default")
        let name = uniqueName("save")
        let domain = try await connection.defineDomain(xml: domainXML(name))
        try await domain.start()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("image")).path
        defer { try? FileManager.default.removeItem(atPath: file) }

        try await domain.save(to: file)
        #expect(try await domain.state() == .shutOff)
        #expect(FileManager.default.fileExists(atPath: file))
        let imageXML = try await connection.saveImageXML(at: file)
        #expect(imageXML.contains("<name>\(name)</name>"))

        let restored = try await connection.restoreDomain(from: file, named: name)
        #expect(restored.name == name)
        #expect(restored.uuid == domain.uuid)
        #expect(try await restored.state() == .running)

        try await restored.destroy()
        try await restored.undefine()
        await connection.close()
    }

    @Test func failuresNameTheCallTheObjectAndLibvirtsMessage() async throws {
        let connection = try await Connection.open("test:///default")
        let name = uniqueName("fail")
        let domain = try await connection.defineDomain(xml: domainXML(name))
        // Not running: nothing to save.
        let saveError = try await #require(throws: LibvirtError.self) { try await domain.save(to: "/nonexistent/\(name)") }
        #expect(saveError.operation == "virDomainSaveFlags")
        #expect(saveError.object == "domain \(name)")

        let missing = "/nonexistent/\(name).save"
        let restoreError = try await #require(throws: LibvirtError.self) {
            try await connection.restoreDomain(from: missing, named: name)
        }
        #expect(restoreError.operation == "virDomainRestoreFlags")
        #expect(!restoreError.message.isEmpty)

        // The test driver has no channels to open; the failure still names the channel.
        try await domain.start()
        let channelError = try await #require(throws: LibvirtError.self) {
            try await domain.openChannel(name: "org.drove.identity.0")
        }
        #expect(channelError.operation == "virDomainOpenChannel")
        #expect(channelError.object == "channel org.drove.identity.0 of domain \(name)")
        #expect(channelError.isUnsupported)

        try await domain.destroy()
        try await domain.undefine()
        await connection.close()
    }

    @Test func aReflinkCopyFallsBackToAFullCopy() async throws {
        let connection = try await Connection.open("test:///default")
        let pool = try #require(try await connection.storagePool(named: "default-pool"))
        let base = uniqueName("golden")
        let source = try await pool.createVolume(xml: """
            <volume><name>\(base).save</name><capacity unit='MiB'>8</capacity></volume>
            """)
        // The test driver may accept or refuse the flag; either way a copy exists.
        let copy = try await pool.createVolume(
            xml: "<volume><name>\(base)-clone.save</name><capacity unit='MiB'>8</capacity></volume>",
            copying: source, reflink: true)
        #expect(copy.name == "\(base)-clone.save")
        #expect(try await copy.info().capacity == 8 << 20)
        for volume in [copy, source] { try await volume.delete() }
        await connection.close()
    }

    @Test func uploadingBytesAtAnOffsetIsRefusedByTheTestDriverWithItsReason() async throws {
        let connection = try await Connection.open("test:///default")
        let pool = try #require(try await connection.storagePool(named: "default-pool"))
        let volume = try await pool.createVolume(xml: """
            <volume><name>\(uniqueName("hdr")).raw</name><capacity unit='MiB'>1</capacity></volume>
            """)
        let error = try await #require(throws: LibvirtError.self) { try await volume.upload(bytes: [1, 2, 3], at: 4096) }
        #expect(error.operation == "virStorageVolUpload")
        #expect(error.isUnsupported)
        try await volume.delete()
        await connection.close()
    }
}
