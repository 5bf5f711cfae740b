import DroveEngine
import DroveHost
import DroveManifest
import DroveQueue
import Libvirt
import Logging
import Synchronization

/// Something a host told the controller, which decides what to look at again.
public enum HostSignal: Sendable, Equatable {
    /// A domain on the host changed (started, stopped, defined, undefined, agent up or down).
    case domain(host: String, vm: String, kind: DomainEvent.Kind)
    /// The host answers (first connect, or after being unreachable).
    case connected(host: String)
    /// The host does not answer (a first connect that failed, or a connection that closed).
    case lost(host: String, reason: String)
}

/// One supervised connection per declared host, made through the engine's connector: it
/// connects, reads the host into the fleet view, keeps the view current from the host's events
/// (keepalive and libvirt's close callback notice a dead daemon within about 30 s, at once on
/// EOF), and reconnects with backoff.
public final class HostFleet: Sendable {
    private struct Supervisor {
        var id: Int
        var spec: HostSpec
        var task: Task<Void, Never>
    }

    private struct State {
        var supervisors: [String: Supervisor] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())
    private let connector: any HostConnector
    let view: FleetView
    private let signal: @Sendable (HostSignal) -> Void
    private let logger: Logger

    init(connector: any HostConnector, view: FleetView, logger: Logger, signal: @escaping @Sendable (HostSignal) -> Void) {
        self.connector = connector
        self.view = view
        self.logger = logger
        self.signal = signal
    }

    /// Starts supervising hosts that are new or whose spec changed (a new URI, pool or limits
    /// means a new connection), and stops those no longer declared.
    func update(_ hosts: [Host]) {
        let wanted = Dictionary(hosts.map { ($0.metadata.name, $0) }, uniquingKeysWith: { first, _ in first })
        view.declare(Set(wanted.keys))
        state.withLock { state in
            for (name, supervisor) in state.supervisors {
                if let host = wanted[name], host.spec == supervisor.spec { continue }
                supervisor.task.cancel()
                state.supervisors[name] = nil
            }
            for (name, host) in wanted where state.supervisors[name] == nil {
                state.nextID += 1
                let id = state.nextID
                // Owned here, cancelled by `update` or `stop`, awaited by `stop`.
                let task = Task { [self] in await supervise(host, id: id) }
                state.supervisors[name] = Supervisor(id: id, spec: host.spec, task: task)
            }
        }
    }

    /// Stops every supervisor and closes every connection.
    func stop() async {
        let tasks = state.withLock { state in
            defer { state.supervisors = [:] }
            return state.supervisors.values.map(\.task)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    private func isCurrent(_ name: String, id: Int) -> Bool {
        state.withLock { $0.supervisors[name]?.id == id }
    }

    private func supervise(_ host: Host, id: Int) async {
        let name = host.metadata.name
        var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30), jitter: 0.2)
        var reported: Bool?
        while !Task.isCancelled {
            let driver: any HostDriver
            let events: AsyncStream<HostEvent>
            do {
                driver = try await connector.connect(host)
                do {
                    events = try await driver.events()
                } catch {
                    await driver.close()
                    throw error
                }
            } catch {
                let reason = String(describing: error)
                if isCurrent(name, id: id) { view.lost(name, reason: reason) }
                if reported != false {
                    logger.warning("host unreachable", metadata: ["host.name": "\(name)", "error": "\(reason)"])
                    signal(.lost(host: name, reason: reason))
                    reported = false
                }
                try? await Task.sleep(for: backoff.next())
                continue
            }
            guard isCurrent(name, id: id) else {
                await driver.close()
                break
            }
            backoff.reset()
            await view.connected(name, driver: driver)
            logger.info("host connected", metadata: ["host.name": "\(name)"])
            signal(.connected(host: name))
            reported = true

            var reason = "stopped"
            for await event in events {
                guard !Task.isCancelled else { break }
                switch event {
                case let .domain(vm, kind):
                    if view.apply(kind, domain: vm, on: name) { await view.read(vm, on: name) }
                    signal(.domain(host: name, vm: vm, kind: kind))
                case let .closed(why):
                    reason = why
                }
            }
            await driver.close()
            if Task.isCancelled { break }
            if isCurrent(name, id: id) { view.lost(name, reason: reason) }
            logger.warning("host lost", metadata: ["host.name": "\(name)", "reason": "\(reason)"])
            signal(.lost(host: name, reason: reason))
            reported = false
            try? await Task.sleep(for: backoff.next())
        }
    }
}
