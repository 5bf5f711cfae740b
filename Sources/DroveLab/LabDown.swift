import Foundation
import Logging

extension Lab {
    /// Removes every domain of every host, stops the hosts' daemons (verified by pid), kills
    /// QEMU processes left behind, and deletes the hosts' directories, `hosts.yaml` and the lab
    /// directory if that leaves it empty. Returns what was torn down; empty when there was no lab.
    @discardableResult
    public func down() async throws -> [LabTeardown] {
        try LabPrerequisites.requireRoot()
        let hosts = hosts()
        let timeout = callTimeout
        let logger = self.logger
        let results = await withTaskGroup(of: (Int, Result<LabTeardown, LabError>).self) { group in
            for host in hosts {
                group.addTask { (host.index, await Self.tearDown(host, timeout: timeout, logger: logger)) }
            }
            var results: [Int: Result<LabTeardown, LabError>] = [:]
            for await (index, result) in group { results[index] = result }
            return results
        }
        var torn: [LabTeardown] = []
        var errors: [LabError] = []
        for host in hosts {
            switch results[host.index] {
            case .success(let teardown)?: torn.append(teardown)
            case .failure(let error)?: errors.append(error)
            case nil: break
            }
        }
        if !errors.isEmpty { throw errors.count == 1 ? errors[0] : LabError.hosts(errors) }

        try? FileManager.default.removeItem(at: layout.hostsManifest)
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(LabPortSlot.fileName))
        if let left = try? FileManager.default.contentsOfDirectory(atPath: directory.path), left.isEmpty {
            try? FileManager.default.removeItem(at: directory)
        }
        return torn
    }

    static func tearDown(_ host: LabHost, timeout: Duration, logger: Logger) async -> Result<LabTeardown, LabError> {
        var teardown = LabTeardown(name: host.name)
        let layout = host.layout
        let libvirtdPid = LabProcesses.readPidFile(layout.libvirtdPidFile)
        if LabProcesses.isAlive(pid: libvirtdPid, program: .libvirtd) {
            do {
                let (removed, failures) = try await LabLibvirt.removeAllDomains(host.uri, timeout: timeout)
                teardown.domainsRemoved = removed
                teardown.warnings += failures
            } catch {
                teardown.warnings.append("could not remove its domains through libvirt: \(error)")
            }
        }
        do {
            // libvirtd before virtlogd (it writes guests' logs through virtlogd), QEMU last.
            if let pid = libvirtdPid, try await LabProcesses.terminate(pid: pid, program: .libvirtd) {
                teardown.stopped.append("libvirtd \(pid)")
            }
            if let pid = LabProcesses.readPidFile(layout.virtlogdPidFile),
               try await LabProcesses.terminate(pid: pid, program: .virtlogd) {
                teardown.stopped.append("virtlogd \(pid)")
            }
            for (domain, pid) in LabFiles.qemuPids(layout) {
                if try await LabProcesses.terminate(pid: pid, program: .qemu, timeout: .seconds(5)) {
                    teardown.stopped.append("qemu \(pid) (\(domain))")
                }
            }
            // libvirtd leaves its networks' dnsmasq running when it stops.
            if let pid = LabProcesses.readPidFile(layout.dnsmasqPidFile),
               try await LabProcesses.terminate(pid: pid, program: .dnsmasq, timeout: .seconds(5)) {
                teardown.stopped.append("dnsmasq \(pid)")
            }
            // The reaper leaves by itself once it has collected the last of them; one that stays
            // has something of the host left to wait for, which it then leaves to PID 1.
            if let pid = LabProcesses.readPidFile(layout.reaperPidFile),
               LabProcesses.isAlive(pid: pid, program: .reaper) {
                if await LabProcesses.waitGone(pid: pid, program: .reaper, timeout: .seconds(3)) {
                    teardown.stopped.append("reaper \(pid)")
                } else {
                    let left = LabProcesses.children(of: pid).filter { !$0.hasExited }.map { "\($0.pid) \($0.executable ?? $0.arguments.first ?? "?")" }
                    if try await LabProcesses.terminate(pid: pid, program: .reaper, timeout: .seconds(2)) {
                        teardown.stopped.append("reaper \(pid)")
                    }
                    teardown.warnings.append("its reaper \(pid) still had processes to wait for: \(left.joined(separator: ", "))")
                }
            }
        } catch {
            return .failure(.teardownFailed(host: host.name, detail: "\(error)"))
        }
        do {
            try FileManager.default.removeItem(at: layout.directory)
        } catch {
            return .failure(.teardownFailed(host: host.name, detail: "could not remove \(layout.directory.path): \(error)"))
        }
        for warning in teardown.warnings { logger.warning("\(host.name): \(warning)") }
        return .success(teardown)
    }
}

/// What `down` did to one host.
public struct LabTeardown: Sendable, Equatable {
    public let name: String
    public var domainsRemoved: [String] = []
    /// Processes stopped, e.g. `libvirtd 1234`.
    public var stopped: [String] = []
    public var warnings: [String] = []

    public init(name: String) {
        self.name = name
    }
}
