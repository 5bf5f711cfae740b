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

    /// Every VM the controller knows of, as last observed. Throwing an `APIError` sets the
    /// HTTP status (a replica that does not lead answers 503, naming the leader).
    func vms() async throws -> [VMSummary]

    /// The VM's console log from byte `offset`, read on the host it is on; nil when the
    /// controller knows no host that holds the VM. Throwing says the host could not give it.
    func consoleLog(vm: String, from offset: UInt64) async throws -> APIConsoleLog?

    /// Asks for the GitSource `name` to be synced now. Returns when it was asked (the sync that
    /// answers shows a `lastSyncAt` at or after it), or nil when there is no such source.
    func requestSync(gitSource name: String) async throws -> Date?

    /// The replicas sharing the store and which leads, as this replica knows it.
    func replicas() async throws -> APIControllerList

    /// This replica's role, for `/healthz`: cheap, from memory.
    func health() async -> APIHealth
}

extension ControllerHandle {
    /// One process that always leads: what a controller without replicas is.
    public func replicas() async throws -> APIControllerList {
        APIControllerList(items: [APIController(id: "local", address: "", leader: true, startedAt: Date(), lastSeenSecondsAgo: 0)],
                          leader: "local", leaseAgeSeconds: nil, leaseTransitions: nil, answeredBy: "local")
    }

    public func health() async -> APIHealth { APIHealth(identity: "local", role: .leader, leader: "local", leaseAgeSeconds: nil) }
}
