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
    /// The host answers again (first connect, or after being unreachable).
    case connected(host: String)
    /// The host stopped answering.
    case lost(host: String, reason: String)
}

/// One supervised connection per declared host: it connects, watches the connection (keepalive
/// and libvirt's close callback notice a dead daemon within about 30 s, at once on EOF),
/// forwards domain events, and reconnects with backoff.
public final class HostFleet: Sendable {
    private enum Slot {
        case connecting(since: ContinuousClock.Instant)
        case connected(LibvirtHost)
        case unreachable(String)
    }

    private struct State {
        var slots: [String: Slot] = [:]
        var supervisors: [String: (id: Int, uri: String, pool: String, task: Task<Void, Never>)] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())
    private let signal: @Sendable (HostSignal) -> Void
    private let logger: Logger

    public init(logger: Logger, signal: @escaping @Sendable (HostSignal) -> Void) {
        self.logger = logger
        self.signal = signal
    }

    /// Starts supervising hosts that are new or whose URI or pool changed, and stops those no
    /// longer declared.
    public func update(_ hosts: [Host]) {
        let wanted = Dictionary(hosts.map { ($0.metadata.name, $0) }, uniquingKeysWith: { first, _ in first })
        state.withLock { state in
            for (name, supervisor) in state.supervisors {
                if let host = wanted[name], host.spec.uri == supervisor.uri, host.spec.pool == supervisor.pool { continue }
                supervisor.task.cancel()
                state.supervisors[name] = nil
                state.slots[name] = nil
            }
            for (name, host) in wanted where state.supervisors[name] == nil {
                state.slots[name] = .connecting(since: .now)
                state.nextID += 1
                let id = state.nextID
                // Owned here, cancelled by `update` or `stop`, awaited by `stop`.
                let task = Task { [self] in await supervise(host, id: id) }
                state.supervisors[name] = (id, host.spec.uri, host.spec.pool, task)
            }
        }
    }

    /// Stops every supervisor and closes every connection.
    public func stop() async {
        let tasks = state.withLock { state in
            defer { state.supervisors = [:] }
            return state.supervisors.values.map(\.task)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// The hosts as they are now: drivers for those that answer, reasons for the others.
    public func connections() -> FleetConnections {
        state.withLock { state in
            var connections = FleetConnections(drivers: [:])
            for (name, slot) in state.slots {
                switch slot {
                case let .connected(driver): connections.drivers[name] = driver
                case .connecting: connections.unreachable[name] = "connecting"
                case let .unreachable(reason): connections.unreachable[name] = reason
                }
            }
            return connections
        }
    }

    /// Records a host's state, if `id` is still its supervisor (a replaced one may still be
    /// winding down).
    private func set(_ name: String, _ slot: Slot, id: Int) {
        state.withLock { state in
            if state.supervisors[name]?.id == id { state.slots[name] = slot }
        }
    }

    private func supervise(_ host: Host, id: Int) async {
        let name = host.metadata.name
        var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30), jitter: 0.2)
        while !Task.isCancelled {
            let driver: LibvirtHost
            do {
                driver = try await LibvirtHost.connect(name: name, uri: host.spec.uri, pool: host.spec.pool,
                                                       lanes: host.spec.maxParallel)
            } catch {
                set(name, .unreachable(String(describing: error)), id: id)
                logger.warning("host unreachable", metadata: ["host.name": "\(name)", "error": "\(error)"])
                try? await Task.sleep(for: backoff.next())
                continue
            }
            let (closed, closing) = AsyncStream.makeStream(of: CloseReason.self)
            do {
                try await driver.connection.onClose { reason in
                    closing.yield(reason)
                    closing.finish()
                }
                let events = try await driver.connection.domainEvents()
                backoff.reset()
                set(name, .connected(driver), id: id)
                logger.info("host connected", metadata: ["host.name": "\(name)"])
                signal(.connected(host: name))
                let reason = await watch(name, events: events, closed: closed)
                if Task.isCancelled {
                    await driver.close()
                    break
                }
                set(name, .unreachable(reason), id: id)
                logger.warning("host lost", metadata: ["host.name": "\(name)", "reason": "\(reason)"])
                signal(.lost(host: name, reason: reason))
            } catch {
                set(name, .unreachable(String(describing: error)), id: id)
            }
            await driver.close()
            if Task.isCancelled { break }
            try? await Task.sleep(for: backoff.next())
        }
        state.withLock { state in
            if state.supervisors[name] == nil { state.slots[name] = nil }
        }
    }

    /// Forwards domain events until the connection closes or the supervisor is cancelled;
    /// returns why it ended.
    private func watch(_ host: String, events: AsyncStream<DomainEvent>, closed: AsyncStream<CloseReason>) async -> String {
        await withTaskGroup(of: String?.self) { group in
            group.addTask { [signal] in
                for await event in events {
                    signal(.domain(host: host, vm: event.domainName, kind: event.kind))
                }
                return nil
            }
            group.addTask {
                for await reason in closed { return "connection closed (\(reason))" }
                return Task.isCancelled ? "stopped" : "connection closed"
            }
            var reason = "stopped"
            while let next = await group.next() {
                if let next {
                    reason = next
                    break
                }
            }
            group.cancelAll()
            return reason
        }
    }
}
