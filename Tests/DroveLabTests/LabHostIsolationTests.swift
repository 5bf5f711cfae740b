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

    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DHCPProbe.Failure(description: "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
    }

    /// A client on the host's bridge (a veth from a namespace of its own, where a guest's NIC would
    /// be) is leased an address of the host's subnet, and libvirt reports the lease.
    @Test(.enabled(if: DroveTestSupport.LabHost.shouldRun))
    func aClientOnTheBridgeIsLeasedAnAddressLibvirtReports() async throws {
        let host = try #require(try Self.runningHosts().first)
        let libvirtd = try #require(LabProcesses.readPidFile(host.layout.libvirtdPidFile))
        let path = LabPrerequisites.searchPath()
        let ip = try #require(LabPrerequisites.find("ip", in: path))
        let nsenter = try #require(LabPrerequisites.find("nsenter", in: path))
        let unshare = try #require(LabPrerequisites.find("unshare", in: path))

        // The client's namespace lives as long as this sleep does.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: unshare)
        client.arguments = ["-n", "sleep", "60"]
        try client.run()
        defer { client.terminate() }
        let own = Self.namespace("net", of: getpid())
        try await waitUntil("the client has a network namespace of its own", timeout: .seconds(5)) { Self.namespace("net", of: client.processIdentifier).map { $0 != own } ?? false }

        let mac = [0x52, 0x54, 0x00] + (0..<3).map { _ in UInt8.random(in: 0...255) }
        let macText = mac.map { String(format: "%02x", $0) }.joined(separator: ":")
        try Self.run(nsenter, ["-t", "\(libvirtd)", "-n", ip, "link", "add", "drv-probe0", "address", macText,
                               "type", "veth", "peer", "name", "drv-probe1"])
        defer { try? Self.run(nsenter, ["-t", "\(libvirtd)", "-n", ip, "link", "del", "drv-probe1"]) }
        try Self.run(nsenter, ["-t", "\(libvirtd)", "-n", ip, "link", "set", "drv-probe1", "master", LabNetwork.bridge, "up"])
        try Self.run(nsenter, ["-t", "\(libvirtd)", "-n", ip, "link", "set", "drv-probe0", "netns", "\(client.processIdentifier)"])
        try Self.run(nsenter, ["-t", "\(client.processIdentifier)", "-n", ip, "link", "set", "drv-probe0", "up"])

        let address = try await DHCPProbe.inNetworkNamespace(of: client.processIdentifier) {
            try DHCPProbe.lease(interface: "drv-probe0", mac: mac)
        }
        #expect(address.hasPrefix("10.77.\(host.index)."), "leased \(address)")

        let connection = try await Connection.open(host.uri, lanes: 1)
        do {
            let network = try #require(try await connection.network(named: Lab.networkName))
            // libvirt learns of a lease from dnsmasq's lease script, a moment after the ACK.
            try await waitUntil("libvirt reports the lease of \(macText)", timeout: .seconds(5), every: .milliseconds(100)) {
                (try? await network.dhcpLeases())?.contains { $0.mac == macText && $0.address == address } ?? false
            }
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
    }
}
