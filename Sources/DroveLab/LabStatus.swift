import Foundation

extension Lab {
    /// What each host's processes and libvirtd say. Never throws: problems land in `error`.
    public func status() async -> [LabHostStatus] {
        let hosts = hosts()
        let timeout = callTimeout
        let byIndex = await withTaskGroup(of: (Int, LabHostStatus).self) { group in
            for host in hosts {
                group.addTask { (host.index, await Self.status(of: host, timeout: timeout)) }
            }
            var results: [Int: LabHostStatus] = [:]
            for await (index, status) in group { results[index] = status }
            return results
        }
        return hosts.compactMap { byIndex[$0.index] }
    }

    static func status(of host: LabHost, timeout: Duration) async -> LabHostStatus {
        var status = LabHostStatus(name: host.name, uri: host.uri)
        status.libvirtdPid = LabProcesses.readPidFile(host.layout.libvirtdPidFile)
        status.libvirtdAlive = LabProcesses.isAlive(pid: status.libvirtdPid, program: .libvirtd)
        status.virtlogdPid = LabProcesses.readPidFile(host.layout.virtlogdPidFile)
        status.virtlogdAlive = LabProcesses.isAlive(pid: status.virtlogdPid, program: .virtlogd)
        status.reaperPid = LabProcesses.readPidFile(host.layout.reaperPidFile)
        status.reaperAlive = LabProcesses.isAlive(pid: status.reaperPid, program: .reaper)
        guard status.libvirtdAlive else {
            status.error = "libvirtd is not running"
            return status
        }
        do {
            let counts = try await LabLibvirt.counts(host.uri, timeout: timeout)
            status.answering = true
            status.domainsRunning = counts.running
            status.domainsDefined = counts.defined
            status.poolAvailableBytes = counts.poolAvailable
            status.networkActive = counts.networkActive
            if counts.poolAvailable == nil {
                status.error = "the storage pool 'default' is not defined"
            } else if counts.networkActive == nil {
                status.error = "the network \(LabNetwork.name) is not defined"
            } else if counts.networkActive == false {
                status.error = "the network \(LabNetwork.name) is not running"
            }
        } catch {
            status.error = "\(error)"
        }
        return status
    }
}
