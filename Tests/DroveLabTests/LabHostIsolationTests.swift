import DroveTestSupport
import Foundation
import Libvirt
import Testing
@testable import DroveLab

/// On a running lab (`drove lab up`; `DROVE_LAB_DIR`): each host's own network namespace, its
/// `drove-lab` network, and its reaper. Under CI a missing lab fails these tests.
@Suite(.serialized) struct LabHostIsolationTests {
    /// The lab's running hosts; records a failure when there are none.
    static func runningHosts() throws -> [DroveLab.LabHost] {
        let hosts = Lab.running(directory: URL(fileURLWithPath: DroveTestSupport.LabHost.directory, isDirectory: true))
        try #require(!hosts.isEmpty, "no lab hosts run in \(DroveTestSupport.LabHost.directory) (drove lab up)")
        return hosts
    }

    static func namespace(_ kind: String, of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(kind)")
    }

    static func parent(of pid: Int32) -> Int32? {
        guard let stat = LabProcesses.readProcFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    @Test(.enabled(if: DroveTestSupport.LabHost.shouldRun))
    func eachHostsDaemonsRunInANetworkNamespaceOfTheirOwn() throws {
        let hosts = try Self.runningHosts()
        let own = try #require(Self.namespace("net", of: getpid()))
        var seen: Set<String> = []
        for host in hosts {
            let libvirtd = try #require(LabProcesses.readPidFile(host.layout.libvirtdPidFile))
            let theirs = try #require(Self.namespace("net", of: libvirtd))
            #expect(theirs != own, "\(host.name): libvirtd \(libvirtd) runs in this machine's network namespace")
            #expect(seen.insert(theirs).inserted, "\(host.name) shares its network namespace with another host")
            let virtlogd = try #require(LabProcesses.readPidFile(host.layout.virtlogdPidFile))
            #expect(Self.namespace("net", of: virtlogd) == theirs)
        }
    }

    @Test(.enabled(if: DroveTestSupport.LabHost.shouldRun))
    func everyHostHasTheDroveLabNetworkRunning() async throws {
        for host in try Self.runningHosts() {
            let connection = try await Connection.open(host.uri, lanes: 1)
            do {
                let network = try #require(try await connection.network(named: Lab.networkName), "\(host.name)")
                #expect(try await network.isActive(), "\(host.name)")
                #expect(try await network.autostart(), "\(host.name)")
                let xml = try await network.xml()
                #expect(!xml.contains("<forward"), "\(host.name): the network must be isolated")
                #expect(xml.contains("10.77.\(host.index).1"), "\(host.name): \(xml)")
                _ = try await network.dhcpLeases()
                // Its DHCP server runs inside the host's namespaces.
                let dnsmasq = try #require(LabProcesses.readPidFile(host.layout.dnsmasqPidFile), "\(host.name): no dnsmasq pid")
                #expect(LabProcesses.isAlive(pid: dnsmasq, program: .dnsmasq))
                let libvirtd = try #require(LabProcesses.readPidFile(host.layout.libvirtdPidFile))
                #expect(Self.namespace("net", of: dnsmasq) == Self.namespace("net", of: libvirtd))
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
        }
        let statuses = await Lab(directory: URL(fileURLWithPath: DroveTestSupport.LabHost.directory, isDirectory: true)).status()
        #expect(statuses.allSatisfy { $0.networkActive == true && $0.error == nil }, "\(statuses)")
    }

    static func domainXML(_ name: String) -> String {
        """
        <domain type='qemu'>
          <name>\(name)</name>
          <memory unit='MiB'>64</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type></os>
          <devices>
            <interface type='network'><source network='\(Lab.networkName)'/><model type='virtio'/></interface>
          </devices>
        </domain>
        """
    }

    @Test(.enabled(if: DroveTestSupport.LabHost.shouldRun))
    func aDestroyedGuestIsCollectedAtOnceByItsHostsReaper() async throws {
        let host = try #require(try Self.runningHosts().first)
        let reaper = try #require(LabProcesses.readPidFile(host.layout.reaperPidFile), "\(host.name) has no reaper")
        #expect(LabProcesses.isAlive(pid: reaper, program: .reaper))
        let libvirtd = try #require(LabProcesses.readPidFile(host.layout.libvirtdPidFile))
        #expect(Self.parent(of: libvirtd) == reaper, "libvirtd daemonized onto the reaper")

        let name = "drove-reap-\(UUID().uuidString.prefix(8).lowercased())"
        let connection = try await Connection.open(host.uri, lanes: 1)
        let domain: Domain
        do {
            domain = try await connection.defineDomain(xml: Self.domainXML(name))
        } catch {
            await connection.close()
            throw error
        }
        do {
            try await domain.start()
            let qemu = try #require(LabFiles.qemuPids(host.layout).first { $0.domain == name }?.pid)
            #expect(Self.parent(of: qemu) == reaper, "QEMU daemonized onto the reaper")

            let clock = ContinuousClock()
            let started = clock.now
            try await domain.destroy()
            let took = clock.now - started
            // Collected, not a zombie waiting for PID 1; and none of the reaper's children is one.
            #expect(LabProcesses.snapshot(pid: qemu) == nil, "QEMU \(qemu) is still there after destroy")
            let zombies = LabProcesses.children(of: reaper).filter(\.hasExited)
            #expect(zombies.isEmpty)
            print("destroy of \(name) on \(host.name) took \(took)")
            try await domain.undefine()
        } catch {
            if (try? await domain.isActive()) == true { try? await domain.destroy() }
            try? await domain.undefine()
            await connection.close()
            throw error
        }
        await connection.close()
    }
}
