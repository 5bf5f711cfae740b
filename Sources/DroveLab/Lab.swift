import Foundation
import Logging

/// A local lab of isolated libvirt hosts on this machine, like `kind` for Kubernetes.
///
/// Each host `node-<i>` is a libvirtd + virtlogd pair in its own mount and network namespaces,
/// under its reaper, with an isolated network `drove-lab`, and with its state
/// in `<directory>/node-<i>/`. The directory is the lab's only record: every operation reads
/// it again, so `up` and `down` are idempotent and survive a crash half-way.
public struct Lab: Sendable {
    public let layout: LabLayout
    public var logger: Logger
    /// How long `up` waits for a started host to answer.
    public var answerTimeout: Duration = .seconds(90)
    /// How long one libvirt exchange (open, a few calls, close) may take.
    public var callTimeout: Duration = .seconds(15)
    /// What each host's daemons run under, so their exited processes are collected at once (see
    /// `LabReaper`): by default the `drove` executable, this one or one beside it. Nil leaves them
    /// to PID 1, which on some machines collects them late and so slows every domain destroy.
    public var reaper: LabReaper.Command? = .beside()

    public init(directory: URL = LabLayout.defaultDirectory(), logger: Logger = Logger(label: "drove.lab")) {
        layout = LabLayout(directory: directory)
        self.logger = logger
    }

    public var directory: URL { layout.directory }

    /// The libvirt network every lab host has (isolated, DHCP on 10.77.<index>.0/24); VMs on a lab
    /// host attach to it by this name.
    public static let networkName = LabNetwork.name

    /// Why `up` would refuse on this machine (not root, a program missing), or nil if it can run.
    /// Test suites that need a lab use it to decide whether they can run.
    public static func prerequisitesProblem() -> String? {
        do {
            _ = try LabPrerequisites.check()
            return nil
        } catch {
            return "\(error)"
        }
    }

    // MARK: Finding hosts

    /// The hosts whose directories exist, by index, running or not.
    public func hosts() -> [LabHost] {
        Self.hosts(in: layout)
    }

    static func hosts(in layout: LabLayout) -> [LabHost] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: layout.directory.path)) ?? []
        return names.compactMap(LabLayout.index(ofHostNamed:))
            .filter { isDirectory(layout.host($0).directory) }
            .sorted()
            .map { LabHost(layout: layout.host($0)) }
    }

    private static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The hosts of the lab in `directory` whose libvirtd is running, for tests and tools that
    /// use a lab someone else started (CI sets `DROVE_LAB_DIR` or uses the default directory).
    public static func running(directory: URL = LabLayout.defaultDirectory()) -> [LabHost] {
        hosts(in: LabLayout(directory: directory)).filter {
            LabProcesses.isAlive(pid: LabProcesses.readPidFile($0.layout.libvirtdPidFile), program: .libvirtd)
        }
    }
}
