import DroveAPI
import DroveManifest
import DrovePlan
import Foundation

/// What the API needs from the controller. The controller implements it; tests use a fake.
public protocol ControllerHandle: Sendable {
    /// Asks for `reference` to be reconciled soon. Only says which key to look at; the
    /// controller reads the store anew (level-triggered), so a repeat is harmless.
    func enqueue(_ reference: ObjectReference) async

    /// What one pass would do if `manifest` were the desired state, without doing it.
    ///
    /// `manifest` is the store's desired objects with the request's objects applied over them
    /// (so a VM set left out of the request is not planned away). Throwing an `APIError` sets
    /// the HTTP status; any other error answers 500 with its description.
    func plan(for manifest: Manifest) async throws -> Plan

    /// Every VM the controller knows of, as last observed.
    func vms() async -> [VMSummary]

    /// The VM's console log from byte `offset`, read on the host it is on; nil when the
    /// controller knows no host that holds the VM. Throwing says the host could not give it.
    func consoleLog(vm: String, from offset: UInt64) async throws -> APIConsoleLog?

    /// Asks for the GitSource `name` to be synced now. Returns when it was asked (the sync that
    /// answers shows a `lastSyncAt` at or after it), or nil when there is no such source.
    func requestSync(gitSource name: String) async throws -> Date?
}
