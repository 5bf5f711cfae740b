import Foundation
import Testing
@testable import Libvirt

/// The binding against libvirt's in-process `test:///default` driver: a real libvirt, no daemon.
/// Every test opens its own connection; the driver's state is shared, so names are unique.
@Suite struct TestDriverTests {
    static let namespace = "urn:drove:test:v1"

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
        </domain>
        """
    }

    @Test func hostFacts() async throws {
        let connection = try await Connection.open("test:///default")
        let info = try await connection.nodeInfo()
        #expect(info.cpus > 0)
        #expect(info.memoryBytes > 0)
        #expect(try await connection.freeMemory() > 0)
        #expect(try await !connection.hostname().isEmpty)
        let capabilities = try await connection.capabilities()
        // The test driver offers one i686 guest of its own domain type.
        #expect(capabilities.offers("test", architecture: "i686"))
        #expect(!capabilities.offers("kvm", architecture: "i686"))
        #expect(try await connection.libvirtVersion() >= 9_000_000)
        #expect(await connection.isAlive())
        await connection.close()
    }

    @Test func keepaliveIsReportedUnsupportedByInProcessDrivers() async throws {
        let connection = try await Connection.open("test:///default")
        #expect(try await connection.setKeepAlive() == false)
        await connection.close()
    }

    @Test func openingABadURINamesTheURIAndLibvirtsMessage() async throws {
        let error = try await #require(throws: LibvirtError.self) {
            try await Connection.open("test:///no/such/file.xml")
        }
        #expect(error.operation == "virConnectOpen")
        #expect(error.object == "test:///no/such/file.xml")
        #expect(error.code != 0)
        #expect(!error.message.isEmpty)
        #expect(error.description.contains("test:///no/such/file.xml"))
    }

    @Test func callsAfterCloseFailCleanly() async throws {
        let connection = try await Connection.open("test:///default")
        await connection.close()
        await connection.close()
        let error = try await #require(throws: LibvirtError.self) { try await connection.nodeInfo() }
        #expect(error.message.contains("closed"))
    }

    @Test func domainLifecycleAndMetadata() async throws {
        let connection = try await Connection.open("test:///default")
        let name = uniqueName("vm")
        let domain = try await connection.defineDomain(xml: domainXML(name))
        #expect(domain.name == name)
        #expect(domain.uuid.count == 36)
        #expect(try await connection.listAllDomains().map(\.name).contains(name))
        #expect(try await domain.state() == .shutOff)
        #expect(try await domain.metadata(namespace: Self.namespace) == nil)

        try await domain.start()
        #expect(try await domain.state() == .running)
        #expect(try await domain.isActive())

        try await domain.setMetadata("<vm set='web' ordinal='3'/>", key: "drove", namespace: Self.namespace)
        let metadata = try #require(try await domain.metadata(namespace: Self.namespace))
        #expect(metadata.contains("set=\"web\""))
        #expect(metadata.contains("ordinal=\"3\""))
        #expect(try await domain.metadata(namespace: "urn:somebody:else") == nil)
        let persistent = try await domain.metadata(namespace: Self.namespace, inactive: true)
        #expect(persistent?.contains("web") == true)
        #expect(try await domain.xml().contains(Self.namespace))

        try await domain.destroy()
        #expect(try await domain.state() == .shutOff)
        try await domain.undefine()
        #expect(try await connection.domain(named: name) == nil)
        await connection.close()
    }

    @Test func failuresNameTheDomainAndLibvirtsMessage() async throws {
        let connection = try await Connection.open("test:///default")
        let domain = try await connection.defineDomain(xml: domainXML(uniqueName("idle")))
        let error = try await #require(throws: LibvirtError.self) { try await domain.destroy() }
        #expect(error.operation == "virDomainDestroy")
        #expect(error.object == "domain \(domain.name)")
        #expect(error.isOperationInvalid)
        try await domain.undefine()

        let bad = try await #require(throws: LibvirtError.self) {
            try await connection.defineDomain(xml: "<domain type='test'><name>x</name>")
        }
        #expect(bad.operation == "virDomainDefineXML")
        #expect(bad.message.lowercased().contains("premature end of data"))
        #expect(try await connection.domain(named: uniqueName("missing")) == nil)
        await connection.close()
    }

    @Test func lifecycleEventsArriveAsAStream() async throws {
        let connection = try await Connection.open("test:///default")
        let events = try await connection.domainEvents()
        let name = uniqueName("evt")
        let domain = try await connection.defineDomain(xml: domainXML(name))
        try await domain.start()
        try await domain.destroy()
        try await domain.undefine()

        var kinds: [DomainEvent.Kind] = []
        for await event in events where event.domainName == name {
            kinds.append(event.kind)
            if event.kind == .undefined { break }
        }
        #expect(kinds == [.defined, .started, .stopped, .undefined])
        await connection.close()
    }

    @Test(.timeLimit(.minutes(1)))
    func closingTheConnectionEndsItsEventStreams() async throws {
        let connection = try await Connection.open("test:///default")
        let events = try await connection.domainEvents()
        // The stream is live before the close: a domain defined now arrives on it.
        let name = uniqueName("close")
        let domain = try await connection.defineDomain(xml: domainXML(name))
        var live = false
        for await event in events where event.domainName == name {
            live = true
            break
        }
        #expect(live, "the stream ended before the connection closed")
        try await domain.undefine()
        await connection.close()
        // Events of other tests' domains may still be buffered; what matters is that the
        // iteration ends, because of the close, within a bound rather than waiting forever.
        let ended = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in events {}
                return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                return false
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        #expect(ended, "the event stream did not end within 10 s of the connection closing")
    }

    @Test func volumesOverlaysAndCopies() async throws {
        let connection = try await Connection.open("test:///default")
        let pool = try #require(try await connection.storagePool(named: "default-pool"))
        #expect(try await pool.info().isRunning)
        #expect(try await connection.storagePool(named: uniqueName("nopool")) == nil)

        let base = uniqueName("base")
        let template = try await pool.createVolume(xml: """
            <volume><name>\(base).qcow2</name><capacity unit='MiB'>64</capacity>
            <target><format type='qcow2'/></target></volume>
            """)
        #expect(template.path.hasSuffix("\(base).qcow2"))
        let overlay = try await pool.createVolume(xml: """
            <volume><name>\(base)-overlay.qcow2</name><capacity unit='MiB'>64</capacity>
            <target><format type='qcow2'/></target>
            <backingStore><path>\(template.path)</path><format type='qcow2'/></backingStore></volume>
            """)
        let overlayXML = try await overlay.xml()
        #expect(overlayXML.contains("<backingStore>"))
        #expect(overlayXML.contains(template.path))
        #expect(try await overlay.info().capacity == 64 << 20)

        let copy = try await pool.createVolume(xml: "<volume><name>\(base)-copy.qcow2</name><capacity unit='MiB'>64</capacity></volume>",
                                               copying: template)
        #expect(try await copy.info().capacity == 64 << 20)
        let names = try await pool.listAllVolumes().map(\.name)
        #expect(Set(["\(base).qcow2", "\(base)-overlay.qcow2", "\(base)-copy.qcow2"]).isSubset(of: names))

        for volume in [overlay, copy, template] { try await volume.delete() }
        #expect(try await pool.volume(named: "\(base).qcow2") == nil)
        await connection.close()
    }

    @Test func uploadIsRefusedByTheTestDriverWithItsReason() async throws {
        let connection = try await Connection.open("test:///default")
        let pool = try #require(try await connection.storagePool(named: "default-pool"))
        let volume = try await pool.createVolume(xml: """
            <volume><name>\(uniqueName("up")).raw</name><capacity unit='MiB'>1</capacity></volume>
            """)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("upload")).path
        _ = FileManager.default.createFile(atPath: file, contents: Data(repeating: 7, count: 4096))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let error = try await #require(throws: LibvirtError.self) { try await volume.upload(from: file) }
        #expect(error.operation == "virStorageVolUpload")
        #expect(error.isUnsupported)
        try await volume.delete()
        await connection.close()
    }

    @Test func manyCallsRunConcurrentlyOnOneConnection() async throws {
        let connection = try await Connection.open("test:///default", lanes: 4)
        let prefix = uniqueName("par")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<20 {
                group.addTask {
                    let domain = try await connection.defineDomain(xml: domainXML("\(prefix)-\(index)"))
                    try await domain.start()
                }
            }
            try await group.waitForAll()
        }
        let mine = try await connection.listAllDomains().filter { $0.name.hasPrefix(prefix) }
        #expect(mine.count == 20)
        for domain in mine {
            #expect(try await domain.state() == .running)
            try await domain.destroy()
            try await domain.undefine()
        }
        await connection.close()
    }
}
