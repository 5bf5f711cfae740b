import DroveAPI
import DroveHost

extension Controller {
    /// A VM's console log from byte `offset`, read on the host the fleet view shows it on; nil
    /// when no host the controller watches holds the VM.
    ///
    /// - Throws: `HostError` when the VM's host does not answer or cannot give the log.
    public func consoleLog(vm: String, from offset: UInt64) async throws -> APIConsoleLog? {
        let fleet = view.snapshot(removals: false)
        if let host = fleet.hosts.values.first(where: { $0.vms[vm] != nil })?.name {
            guard let driver = view.drivers()[host] else { throw Self.notAnswering(host, vm: vm) }
            let chunk = try await driver.consoleLog(vm: vm, from: offset)
            return APIConsoleLog(bytes: chunk.bytes, nextOffset: chunk.nextOffset)
        }
        if let host = view.lastSeen().first(where: { $0.value.contains { $0.name == vm } })?.key {
            throw Self.notAnswering(host, vm: vm)
        }
        return nil
    }

    private static func notAnswering(_ host: String, vm: String) -> HostError {
        HostError(host: host, object: "vm \(vm)", cause: "the host does not answer", transient: true)
    }
}
