import Foundation
import Testing
@testable import DroveLab

@Suite struct LabProcessTests {
    static let labNamespace = "mnt:[4026532177]"
    static let ownNamespace = "mnt:[4026531832]"

    static func snapshot(_ executable: String?, _ arguments: [String], state: Character = "S",
                         namespace: String? = labNamespace) -> ProcessSnapshot {
        ProcessSnapshot(pid: 4242, executable: executable, arguments: arguments, state: state, mountNamespace: namespace)
    }

    @Test func stateIsReadAfterTheLastParenthesis() {
        #expect(ProcessSnapshot.state(fromStat: "7514 (libvirtd) S 1 7513") == "S")
        #expect(ProcessSnapshot.state(fromStat: "7514 (odd) Z (name) Z 1 7513") == "Z")
        #expect(ProcessSnapshot.state(fromStat: "garbage") == nil)
    }

    @Test func pidFilesParse() {
        #expect(LabProcesses.parsePid("1234\n") == 1234)
        #expect(LabProcesses.parsePid(" 77 ") == 77)
        #expect(LabProcesses.parsePid("0") == nil)
        #expect(LabProcesses.parsePid("-5") == nil)
        #expect(LabProcesses.parsePid("abc") == nil)
        #expect(LabProcesses.readPidFile(URL(fileURLWithPath: "/nonexistent/drove.pid")) == nil)
    }

    @Test func aLiveLabDaemonIsOurs() {
        let daemon = Self.snapshot("/usr/sbin/libvirtd", ["/usr/sbin/libvirtd", "-d", "-p", "/run/libvirt/libvirtd.pid"])
        #expect(LabProcesses.verdict(daemon, program: .libvirtd, ownMountNamespace: Self.ownNamespace) == .ours(daemon))
        // Upgraded binary; argv[0] without a path; qemu by prefix.
        let upgraded = Self.snapshot("/usr/sbin/virtlogd (deleted)", ["virtlogd"])
        #expect(LabProcesses.verdict(upgraded, program: .virtlogd, ownMountNamespace: Self.ownNamespace) == .ours(upgraded))
        let unreadableExe = Self.snapshot(nil, ["virtlogd", "-d"])
        #expect(LabProcesses.verdict(unreadableExe, program: .virtlogd, ownMountNamespace: nil) == .ours(unreadableExe))
        let qemu = Self.snapshot("/usr/bin/qemu-system-x86_64", ["/usr/bin/qemu-system-x86_64", "-name", "guest=tiny"])
        #expect(LabProcesses.verdict(qemu, program: .qemu, ownMountNamespace: Self.ownNamespace) == .ours(qemu))
    }

    @Test func goneZombieReusedAndSystemProcessesAreLeftAlone() {
        #expect(LabProcesses.verdict(nil, program: .libvirtd, ownMountNamespace: Self.ownNamespace) == .gone)
        let zombie = Self.snapshot(nil, [], state: "Z")
        #expect(LabProcesses.verdict(zombie, program: .libvirtd, ownMountNamespace: Self.ownNamespace) == .gone)

        let reused = Self.snapshot("/usr/bin/bash", ["bash"])
        guard case .notOurs = LabProcesses.verdict(reused, program: .libvirtd, ownMountNamespace: Self.ownNamespace) else {
            Issue.record("a reused pid must not be signalled")
            return
        }
        let virtlogdAsLibvirtd = Self.snapshot("/usr/sbin/virtlogd", ["virtlogd"])
        guard case .notOurs = LabProcesses.verdict(virtlogdAsLibvirtd, program: .libvirtd, ownMountNamespace: nil) else {
            Issue.record("virtlogd is not libvirtd")
            return
        }
        // argv[0] is chosen by the process; the executable decides when it can be read.
        let disguised = Self.snapshot("/usr/bin/sleep", ["libvirtd"])
        guard case .notOurs = LabProcesses.verdict(disguised, program: .libvirtd, ownMountNamespace: nil) else {
            Issue.record("a process calling itself libvirtd is not libvirtd")
            return
        }
        let qemuImg = Self.snapshot("/usr/bin/qemu-img", ["qemu-img"])
        guard case .notOurs = LabProcesses.verdict(qemuImg, program: .qemu, ownMountNamespace: nil) else {
            Issue.record("qemu-img is not a guest")
            return
        }
        // The machine's own libvirtd runs in the machine's mount namespace.
        let system = Self.snapshot("/usr/sbin/libvirtd", ["/usr/sbin/libvirtd"], namespace: Self.ownNamespace)
        guard case .notOurs = LabProcesses.verdict(system, program: .libvirtd, ownMountNamespace: Self.ownNamespace) else {
            Issue.record("the system libvirtd must never be signalled")
            return
        }
    }

    @Test func thisProcessIsNoLabDaemon() async throws {
        let me = try #require(LabProcesses.snapshot(pid: getpid()))
        #expect(me.state != nil)
        #expect(!me.arguments.isEmpty)
        #expect(LabProcesses.isAlive(pid: getpid(), program: .libvirtd) == false)
        #expect(try await LabProcesses.terminate(pid: getpid(), program: .libvirtd) == false)
    }

    /// Swift's concurrency threads block most signals, and a spawned child inherits the mask:
    /// a daemon started that way ignores SIGTERM. Children must start with nothing blocked.
    @Test func spawnedProgramsStartWithNoSignalBlocked() async throws {
        let status = try await LabSpawn.run("/bin/sh", ["-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status"])
        #expect(status.code == 0)
        #expect(status.output.contains("SigBlk:\t0000000000000000"), "\(status.output)")
    }

    @Test func spawnReportsExitStatusAndLogsToAFile() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("drove-lab-spawn-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let status = try await LabSpawn.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], logFile: log)
        #expect(status.code == 3)
        #expect(try String(contentsOf: log, encoding: .utf8) == "out\nerr\n")
    }

    @Test func logTailKeepsTheLastLines() {
        #expect(LabLogs.tail("a\nb\n\nc\nd\n", lines: 2) == "c\nd")
        #expect(LabLogs.tail("", lines: 5) == "")
    }

    @Test func missingProgramsNameTheirPackages() {
        let error = LabPrerequisites.missingError(["libvirtd", "nsenter"])
        #expect(error == .missingPrerequisites(
            missing: ["libvirtd", "nsenter"],
            packages: ["libvirt-daemon", "libvirt-daemon-driver-qemu", "qemu-system-x86", "qemu-utils", "dnsmasq-base", "iptables",
                       "util-linux"]))
        #expect(error.description.contains(
            "apt-get install libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils dnsmasq-base iptables util-linux"))
        #expect(LabError.notRoot.description.contains("root"))
    }

    @Test func aMissingDnsmasqOrNetworkDriverNamesWhatShipsIt() {
        let error = LabPrerequisites.missingError(["dnsmasq", "ip", LabPrerequisites.drivers[1].name])
        guard case .missingPrerequisites(let missing, let packages) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(missing == ["dnsmasq", "ip", "libvirt's network driver (libvirt_driver_network.so)"])
        #expect(packages.contains("dnsmasq-base"))
        #expect(packages.contains("iproute2"))
        #expect(error.description.contains("dnsmasq-base"))
    }

    @Test func hostErrorsCarryTheirLogs() {
        let error = LabError.notAnswering(host: "node-2", uri: "qemu+unix:///system?socket=/x", detail: "libvirtd exited",
                                          log: "/x/log/libvirtd.log:\nerror : Failed to parse user 'libvirt-qemu'")
        #expect(error.description.contains("node-2"))
        #expect(error.description.contains("Failed to parse user 'libvirt-qemu'"))
    }
}
