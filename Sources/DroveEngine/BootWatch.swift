import DroveHost
import DrovePlan

/// Tells the engine's boot gate about the guests it admitted while a converge run goes on
/// (the controller does this from its fleet view): a domain event about a booting guest
/// reads that domain, and guests waiting for an address are read once a second, since no event
/// says a DHCP lease was taken.
final class BootWatch: Sendable {
    private let tasks: [Task<Void, Never>]

    init(_ drivers: [String: any HostDriver], gate: BootGate) async {
        var tasks: [Task<Void, Never>] = []
        for driver in drivers.values {
            guard let events = try? await driver.events() else { continue }
            tasks.append(Task {
                for await event in events {
                    guard case let .domain(vm, kind) = event, gate.booting().contains(where: { $0.vm == vm }) else { continue }
                    if BootGate.ends(kind) { gate.settle(vm) } else { await Self.look(at: vm, on: driver, gate: gate) }
                }
            })
        }
        tasks.append(Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                for (host, vm) in gate.booting(readiness: .address) {
                    guard let driver = drivers[host] else { continue }
                    await Self.look(at: vm, on: driver, gate: gate)
                }
            }
        })
        self.tasks = tasks
    }

    private static func look(at vm: String, on driver: any HostDriver, gate: BootGate) async {
        if case let .drove(observed)? = try? await driver.observeDomain(vm) { gate.observed(observed) }
    }

    func stop() {
        for task in tasks { task.cancel() }
    }
}
