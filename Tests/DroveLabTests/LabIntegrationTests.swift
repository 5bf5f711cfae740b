import DroveManifest
import DroveTestSupport
import Foundation
import Libvirt
import Testing
@testable import DroveLab

/// Whether this machine can run a real lab; CI must, so there a missing prerequisite fails.
enum LabGate {
    static let problem: String? = Lab.prerequisitesProblem()
    /// Under CI (`LabHost.required`, the one reading of the CI variable) a missing
    /// prerequisite is a failure, never a skip.
    static let enabled = problem == nil || DroveTestSupport.LabHost.required
}

/// Brings up a real 2-host lab, runs a guest on each, and tears it all down.
@Suite(.serialized) struct LabIntegrationTests {
    static let domainName = "drove-lab-test"

    static func domainXML() -> String {
        """
        <domain type='qemu'>
          <name>\(domainName)</name>
          <memory unit='MiB'>64</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type></os>
          <devices><graphics type='vnc' autoport='yes' listen='127.0.0.1'/></devices>
        </domain>
        """
    }

    @Test(.enabled(if: LabGate.enabled, "needs root and libvirt: apt-get install libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils"))
    func twoHostLabRunsIsolatedHostsAndTearsDown() async throws {
        if let problem = LabGate.problem {
            Issue.record("CI is set, so the lab test must run: \(problem)")
            return
        }
        let directory = URL(fileURLWithPath: "/var/lib/drove/lab-test-\(UUID().uuidString.prefix(8).lowercased())", isDirectory: true)
        let lab = Lab(directory: directory)

        var failure: (any Error)?
        do {
            try await exercise(lab)
        } catch {
            failure = error
        }
        // Whatever happened above, tear down, and prove nothing is left.
        let processes = Self.labProcesses(lab)
        do {
            let torn = try await lab.down()
            if failure == nil {
                #expect(torn.map(\.name) == ["node-1", "node-2"])
                #expect(torn.allSatisfy { $0.domainsRemoved == [Self.domainName] })
            }
        } catch {
            Issue.record("down failed: \(error)")
        }
        for (program, pid) in processes {
            #expect(!LabProcesses.isAlive(pid: pid, program: program), "\(program.rawValue) \(pid) survived down")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path))
        #expect(try await lab.down().isEmpty, "a second down finds nothing")
        if let failure { throw failure }
    }

    private func exercise(_ lab: Lab) async throws {
        let hosts = try await lab.up(hosts: 2)
        #expect(hosts.map(\.name) == ["node-1", "node-2"])
        #expect(Set(hosts.map(\.uri)).count == 2)
        #expect(Lab.running(directory: lab.directory) == hosts)
        #expect(try lab.manifestHosts() == hosts.map(\.manifestHost))

        // up again: the same daemons, untouched.
        let pids = hosts.map { LabProcesses.readPidFile($0.layout.libvirtdPidFile) }
        _ = try await lab.up(hosts: 2)
        #expect(hosts.map { LabProcesses.readPidFile($0.layout.libvirtdPidFile) } == pids)

        let first = try await Connection.open(hosts[0].uri)
        let second = try await Connection.open(hosts[1].uri)
        do {
            try await checkIsolation(first, second, hosts: hosts, lab: lab)
        } catch {
            await first.close()
            await second.close()
            throw error
        }
        await first.close()
        await second.close()
    }

    private func checkIsolation(_ first: Connection, _ second: Connection, hosts: [DroveLab.LabHost], lab: Lab) async throws {
        #expect(try await first.nodeInfo().cpus > 0)
        #expect(try await second.nodeInfo().cpus > 0)

        // A domain defined and started on node-1 is node-1's alone.
        let domain = try await first.defineDomain(xml: Self.domainXML())
        #expect(try await second.domain(named: Self.domainName) == nil)
        #expect(try await second.listAllDomains().isEmpty)
        try await domain.start()
        #expect(try await domain.isActive())

        let statuses = await lab.status()
        #expect(statuses.map(\.name) == ["node-1", "node-2"])
        #expect(statuses.allSatisfy { $0.libvirtdAlive && $0.virtlogdAlive && $0.answering && $0.error == nil })
        #expect(statuses.map(\.domainsRunning) == [1, 0])
        #expect(statuses.map(\.domainsDefined) == [1, 0])
        #expect(statuses.allSatisfy { ($0.poolAvailableBytes ?? 0) > 0 })
        #expect(statuses.allSatisfy { $0.networkActive == true && $0.reaperAlive }, "\(statuses)")

        // The same name runs on node-2 at the same time, each on a display port of its own range.
        let twin = try await second.defineDomain(xml: Self.domainXML())
        try await twin.start()
        let slot = try LabPortSlot.claim(for: lab.directory)
        for (index, running) in [(1, domain), (2, twin)] {
            let port = try #require(Self.vncPort(try await running.xml()))
            #expect(LabConfig.displayPorts(index: index, slot: slot).contains(port), "node-\(index) VNC port \(port)")
        }
        for host in hosts {
            #expect(LabFiles.qemuPids(host.layout).map(\.domain) == [Self.domainName])
        }
    }

    /// Every pid the lab's pid files name, read before `down` so they can be checked after it.
    static func labProcesses(_ lab: Lab) -> [(LabProgram, Int32)] {
        lab.hosts().flatMap { host -> [(LabProgram, Int32)] in
            var found: [(LabProgram, Int32)] = []
            if let pid = LabProcesses.readPidFile(host.layout.libvirtdPidFile) { found.append((.libvirtd, pid)) }
            if let pid = LabProcesses.readPidFile(host.layout.virtlogdPidFile) { found.append((.virtlogd, pid)) }
            if let pid = LabProcesses.readPidFile(host.layout.dnsmasqPidFile) { found.append((.dnsmasq, pid)) }
            if let pid = LabProcesses.readPidFile(host.layout.reaperPidFile) { found.append((.reaper, pid)) }
            found += LabFiles.qemuPids(host.layout).map { (.qemu, $0.pid) }
            return found
        }
    }

    static func vncPort(_ xml: String) -> Int? {
        guard let match = xml.firstMatch(of: /<graphics type='vnc' port='(\d+)'/) else { return nil }
        return Int(match.1)
    }
}
