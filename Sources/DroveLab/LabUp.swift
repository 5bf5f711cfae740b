import Foundation

extension Lab {
    /// Makes sure hosts `node-1`…`node-<count>` run and answer, starting those that do not, and
    /// writes `hosts.yaml`. Hosts already running are left alone; hosts beyond `count` are kept.
    @discardableResult
    public func up(hosts count: Int) async throws -> [LabHost] {
        guard (1...LabConfig.maxHosts).contains(count) else { throw LabError.invalidHostCount(count) }
        // A unix socket path holds at most 107 bytes; libvirtd would fail to bind a longer one.
        let socket = layout.host(LabConfig.maxHosts).socket.path
        guard socket.utf8.count <= 107 else { throw LabError.directoryTooLong(directory.path) }
        let tools = try LabPrerequisites.check()
        let logger = self.logger
        try await LabPrerequisites.ensureQemuUser { logger.notice("\($0)") }
        try LabPrerequisites.ensureMountPoints()

        let existing = hosts().map(\.index)
        if existing.count > count {
            logger.notice("the lab in \(directory.path) has \(existing.count) hosts; up --hosts \(count) removes none (use down)")
        }
        let wanted = Set(1...count).union(existing).sorted().map { layout.host($0) }

        // Start serially: each start is quick, and libvirtd's start-up is CPU-heavy on 2 cores.
        var errors: [LabError] = []
        var starting: [LabHostLayout] = []
        for host in wanted {
            do {
                try await ensureStarted(host, tools: tools)
                starting.append(host)
            } catch let error as LabError {
                errors.append(error)
            } catch {
                errors.append(.startFailed(host: host.name, detail: "\(error)", log: LabLogs.tail(of: host)))
            }
        }
        // Then wait for all of them at once.
        let waited = await withTaskGroup(of: LabError?.self) { group in
            for host in starting {
                group.addTask { await self.waitUntilAnswering(host) }
            }
            var failures: [LabError] = []
            for await case let failure? in group { failures.append(failure) }
            return failures
        }
        errors += waited
        if !errors.isEmpty { throw errors.count == 1 ? errors[0] : LabError.hosts(errors) }
        // So that the first domain defined on a host does not wait for QEMU to be probed.
        try await LabCapabilities.warm(wanted, timeout: answerTimeout)
        try await ensureNetworks(wanted)

        let all = hosts()
        try writeManifest(all)
        return all
    }

    /// Leaves a running host alone (restarting only a dead virtlogd beside it), else prepares
    /// its directory and starts its daemons in a new namespace.
    private func ensureStarted(_ host: LabHostLayout, tools: LabTools) async throws {
        let libvirtdPid = LabProcesses.readPidFile(host.libvirtdPidFile)
        let virtlogdPid = LabProcesses.readPidFile(host.virtlogdPidFile)
        if let libvirtdPid, LabProcesses.isAlive(pid: libvirtdPid, program: .libvirtd) {
            if !LabProcesses.isAlive(pid: virtlogdPid, program: .virtlogd) {
                logger.notice("\(host.name): virtlogd is not running; restarting it beside libvirtd \(libvirtdPid)")
                try? FileManager.default.removeItem(at: host.virtlogdPidFile)
                try await LabNamespace.startVirtlogd(host: host, libvirtdPid: libvirtdPid, tools: tools)
            } else {
                logger.info("\(host.name): already running (libvirtd \(libvirtdPid))")
            }
            return
        }
        // A virtlogd (or dnsmasq) without its libvirtd sits in old namespaces: replace them all.
        // The old reaper then has nothing left and leaves too.
        do {
            if let virtlogdPid { try await LabProcesses.terminate(pid: virtlogdPid, program: .virtlogd) }
            if let pid = LabProcesses.readPidFile(host.dnsmasqPidFile) { try await LabProcesses.terminate(pid: pid, program: .dnsmasq) }
            if let pid = LabProcesses.readPidFile(host.reaperPidFile),
               await !LabProcesses.waitGone(pid: pid, program: .reaper, timeout: .seconds(3)) {
                try await LabProcesses.terminate(pid: pid, program: .reaper)
            }
        } catch {
            throw LabError.startFailed(host: host.name, detail: "\(error)", log: "")
        }
        try? FileManager.default.removeItem(at: host.libvirtdPidFile)
        try? FileManager.default.removeItem(at: host.virtlogdPidFile)
        try? FileManager.default.removeItem(at: host.dnsmasqPidFile)
        try? FileManager.default.removeItem(at: host.reaperPidFile)
        try LabFiles.prepare(host, portSlot: LabPortSlot.claim(for: layout.directory))
        if reaper == nil {
            logger.warning("\(host.name): no drove executable to run as its reaper; PID 1 collects its exited processes")
        }
        logger.info("\(host.name): starting libvirtd and virtlogd in new mount and network namespaces")
        try await LabNamespace.start(host: host, tools: tools, reaper: reaper)
    }

    /// Nil once the host answers through the binding; the reason, with its logs, if it never does.
    private func waitUntilAnswering(_ host: LabHostLayout) async -> LabError? {
        let clock = ContinuousClock()
        let deadline = clock.now + answerTimeout
        var lastProblem = "it was never asked"
        while clock.now < deadline {
            guard let pid = LabProcesses.readPidFile(host.libvirtdPidFile),
                  LabProcesses.isAlive(pid: pid, program: .libvirtd) else {
                return .notAnswering(host: host.name, uri: host.uri, detail: "libvirtd exited", log: LabLogs.tail(of: host))
            }
            do {
                try await LabLibvirt.probe(host.uri, timeout: callTimeout)
                return nil
            } catch {
                lastProblem = "\(error)"
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return .notAnswering(host: host.name, uri: host.uri, detail: "gave up after \(answerTimeout): \(lastProblem)",
                             log: LabLogs.tail(of: host))
    }

    /// Gives every host its `drove-lab` network (all hosts at once; each is quick).
    private func ensureNetworks(_ hosts: [LabHostLayout]) async throws {
        let timeout = callTimeout
        let logger = self.logger
        let errors = await withTaskGroup(of: LabError?.self) { group in
            for host in hosts {
                group.addTask {
                    do {
                        if try await LabLibvirt.ensureNetwork(host.uri, index: host.index, timeout: timeout) {
                            logger.info("\(host.name): network \(LabNetwork.name) defined and started")
                        }
                        return nil
                    } catch {
                        return .startFailed(host: host.name, detail: "could not start the network \(LabNetwork.name): \(error)",
                                            log: LabLogs.tail(of: host))
                    }
                }
            }
            var failures: [LabError] = []
            for await case let failure? in group { failures.append(failure) }
            return failures.sorted { $0.description < $1.description }
        }
        if !errors.isEmpty { throw errors.count == 1 ? errors[0] : LabError.hosts(errors) }
    }

    private func writeManifest(_ hosts: [LabHost]) throws {
        do {
            try Data(LabManifest.render(hosts).utf8).write(to: layout.hostsManifest, options: .atomic)
        } catch {
            throw LabError.cannotPrepare(host: "lab", detail: "could not write \(layout.hostsManifest.path): \(error)")
        }
    }
}
