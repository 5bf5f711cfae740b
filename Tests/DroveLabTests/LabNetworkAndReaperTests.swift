import Foundation
import Testing
@testable import DroveLab

/// The pure parts of each host's network and reaper.
@Suite struct LabNetworkAndReaperTests {
    @Test func eachHostGetsAnIsolatedNetworkOnASubnetOfItsOwn() {
        #expect(Lab.networkName == "drove-lab")
        let xml = LabNetwork.xml(index: 3)
        #expect(xml.contains("<name>drove-lab</name>"))
        #expect(!xml.contains("<forward"), "isolated: nothing is forwarded out of the host")
        #expect(xml.contains("<bridge name='drove-br0'"))
        #expect(xml.contains("<ip address='10.77.3.1' netmask='255.255.255.0'>"))
        #expect(xml.contains("<range start='10.77.3.100' end='10.77.3.250'/>"))
        #expect(xml.contains("<dnsmasq:option value='no-ping'/>"), "no ping before an offer: nothing else is on the network")
        let gateways = (1...LabConfig.maxHosts).map { LabNetwork.subnet(index: $0).gateway }
        #expect(Set(gateways).count == LabConfig.maxHosts)
        #expect(LabNetwork.bridge.utf8.count <= 15, "Linux interface names hold at most 15 bytes")
    }

    @Test func hostsStartInNewMountAndNetworkNamespacesUnderTheirReaper() {
        let host = LabLayout(directory: URL(fileURLWithPath: "/var/lib/drove/lab")).host(2)
        let tools = LabTools(libvirtd: "/usr/sbin/libvirtd", virtlogd: "/usr/sbin/virtlogd", unshare: "/usr/bin/unshare",
                             nsenter: "/usr/bin/nsenter")
        let reaper = LabReaper.Command(executable: "/opt/drove/drove")
        let arguments = LabNamespace.startArguments(host: host, tools: tools, reaper: reaper)
        #expect(Array(arguments.prefix(4)) == ["-m", "-n", "--propagation", "private"])
        #expect(Array(arguments[4...9]) == ["/opt/drove/drove", "lab", "reaper", "--pid-file",
                                            "/var/lib/drove/lab/node-2/run/reaper.pid", "--"])
        #expect(Array(arguments[10...11]) == ["/bin/bash", "-c"])
        #expect(arguments.suffix(4) == ["drove-lab-node-2", "/var/lib/drove/lab/node-2", "/usr/sbin/virtlogd", "/usr/sbin/libvirtd"])
        #expect(LabNamespace.startScript.contains("ip link set lo up"))

        let bare = LabNamespace.startArguments(host: host, tools: tools, reaper: nil)
        #expect(Array(bare.prefix(6)) == ["-m", "-n", "--propagation", "private", "/bin/bash", "-c"])
    }

    @Test func theReaperReportsTheScriptsExitStatus() {
        #expect(LabReaper.scriptStatus(in: LabReaper.report(status: 0)) == 0)
        #expect(LabReaper.scriptStatus(in: "noise\n" + LabReaper.report(status: 3)) == 3)
        #expect(LabReaper.scriptStatus(in: "") == nil)
        #expect(LabReaper.scriptStatus(in: "script-exit x\n") == nil)
        // waitpid statuses: exit 0, exit 2, killed by SIGKILL.
        #expect(LabReaper.exitCode(waitStatus: 0) == 0)
        #expect(LabReaper.exitCode(waitStatus: 2 << 8) == 2)
        #expect(LabReaper.exitCode(waitStatus: 9) == 137)
    }

    @Test func theReaperIsTheDroveExecutableThisOneOrOneBesideIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drove-reaper-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let runner = directory.appendingPathComponent("DrovePackageTests.xctest").path
        #expect(LabReaper.Command.beside(executable: runner) == nil, "no drove beside it")
        let drove = directory.appendingPathComponent("drove").path
        #expect(FileManager.default.createFile(atPath: drove, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755]))
        #expect(LabReaper.Command.beside(executable: runner) == LabReaper.Command(executable: drove, arguments: ["lab", "reaper"]))
        #expect(LabReaper.Command.beside(executable: drove)?.executable == drove)
        #expect(LabReaper.Command.beside(executable: nil) == nil)
    }

    @Test func theTestsDHCPProbeReadsWhatAServerWouldSend() {
        let mac: [UInt8] = [0x52, 0x54, 0, 1, 2, 3]
        let discover = DHCPProbe.packet(type: 1, mac: mac)
        #expect(discover[0] == 1 && Array(discover[28..<34]) == mac && discover[10] == 0x80)
        #expect(DHCPProbe.parse(discover) == nil, "a request is no reply")
        var offer = discover
        offer[0] = 2
        offer[242] = 2
        offer.replaceSubrange(16..<20, with: [10, 77, 1, 100])
        #expect(DHCPProbe.parse(offer)?.type == 2)
        #expect(DHCPProbe.parse(offer)?.address == [10, 77, 1, 100])
        let request = DHCPProbe.packet(type: 3, mac: mac, requesting: [10, 77, 1, 100])
        #expect(request[240..<249].elementsEqual([53, 1, 3, 50, 4, 10, 77, 1, 100]))
    }

    @Test func aReaperAndDnsmasqAreKnownByWhatTheyRun() {
        let reaper = ProcessSnapshot(pid: 10, executable: "/work/.build/debug/drove",
                                     arguments: ["/work/.build/debug/drove", "lab", "reaper", "--pid-file", "/x/reaper.pid", "--", "/bin/bash"],
                                     state: "S", mountNamespace: "mnt:[1]")
        #expect(reaper.runs(.reaper))
        #expect(!reaper.runs(.libvirtd))
        let notReaper = ProcessSnapshot(pid: 11, executable: "/usr/bin/drove", arguments: ["/usr/bin/drove", "lab", "up"],
                                        state: "S", mountNamespace: "mnt:[1]")
        #expect(!notReaper.runs(.reaper))
        let dnsmasq = ProcessSnapshot(pid: 12, executable: "/usr/sbin/dnsmasq",
                                      arguments: ["/usr/sbin/dnsmasq", "--conf-file=/var/lib/libvirt/dnsmasq/drove-lab.conf"],
                                      state: "S", mountNamespace: "mnt:[1]")
        #expect(dnsmasq.runs(.dnsmasq))
        #expect(LabProcesses.verdict(dnsmasq, program: .dnsmasq, ownMountNamespace: "mnt:[2]") == .ours(dnsmasq))
        #expect(LabHostLayout(index: 1, directory: URL(fileURLWithPath: "/l/node-1")).dnsmasqPidFile.path
                == "/l/node-1/run/network/drove-lab.pid")
    }
}
