import DroveManifest
import DrovePlan
import Libvirt
import Synchronization

/// Boot admission: at most `maxBooting` guests of a host boot at once (started, not yet ready).
///
/// Under TCG a boot is pure CPU: thirty guests started together on two cores all boot slowly
/// together, and none is ready before most are. Admitting a few at a time lets the first ones
/// finish early and the last ones no later (docs/benchmarks.md, time to ready). A start waits for
/// admission before it takes a host slot, so waiting never holds a slot other actions need.
///
/// A booting guest leaves the gate when whoever watches the host says it is ready, stopped or
/// gone (`observed`, `settle`), or when its set's readiness timeout has passed (`onTimeout` is
/// told, so the VM can be marked Failed). Guests whose set has `readiness: running` leave as soon
/// as they have started.
public final class BootGate: Sendable {
    /// Readiness and timeout of one set's VMs.
    struct SetReadiness: Sendable, Equatable {
        var readiness: Readiness
        var timeout: Duration
    }

    private struct Booting {
        var host: String
        var expiry: Task<Void, Never>
    }

    private struct State {
        /// What Host objects declare.
        var limits: [String: Int] = [:]
        /// Each host's CPUs, as observed: the limit where none is declared.
        var cpus: [String: Int] = [:]
        var sets: [String: SetReadiness] = [:]
        var booting: [String: Booting] = [:]
        var waiting: [String: [(vm: String, continuation: CheckedContinuation<Void, Never>)]] = [:]
        var onTimeout: (@Sendable (_ host: String, _ vm: String) -> Void)?
    }

    private let state = Mutex(State())

    public init() {}

    /// Takes the hosts' `maxBooting`.
    public func configure(hosts: [DroveManifest.Host]) {
        let wake = state.withLock { state in
            for host in hosts { state.limits[host.metadata.name] = host.spec.maxBooting }
            return Self.admitWaiting(&state, gate: self)
        }
        for continuation in wake { continuation.resume() }
    }

    /// Takes a host's CPU count, which is its limit unless its Host declares one: measured on
    /// the lab (docs/benchmarks.md, figure 6), one booting guest per CPU has the first guests
    /// ready in a quarter of the time and the last no later than starting them all at once.
    public func configure(host: String, cpus: Int) {
        guard cpus > 0 else { return }
        let wake = state.withLock { state in
            state.cpus[host] = cpus
            return Self.admitWaiting(&state, gate: self)
        }
        for continuation in wake { continuation.resume() }
    }

    /// Before a host has been read, a cautious guess.
    static let unknownLimit = 2

    /// Takes the readiness (their own, else their template's) and timeouts of `sets`, all of
    /// `manifest`'s when nil.
    public func configure(sets: [VMSet]? = nil, in manifest: Manifest) {
        state.withLock { state in
            for set in sets ?? manifest.vmSets {
                state.sets[set.metadata.name] = SetReadiness(readiness: SetTally.readiness(of: set, in: manifest),
                                                             timeout: .seconds(set.spec.readinessTimeout))
            }
        }
    }

    /// Called when a booting guest outlives its set's readiness timeout.
    public func onTimeout(_ handler: @escaping @Sendable (_ host: String, _ vm: String) -> Void) {
        state.withLock { $0.onTimeout = handler }
    }

    /// Waits until `vm` may boot on `host`, and counts it as booting from then on.
    func admit(host: String, vm: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state -> Bool in
                if state.booting[vm] != nil { return true } // a retried start: already counted
                guard Self.room(state, host: host) else {
                    state.waiting[host, default: []].append((vm, continuation))
                    return false
                }
                Self.enter(&state, host: host, vm: vm, gate: self)
                return true
            }
            if admitted { continuation.resume() }
        }
    }

    /// The start was carried out (or failed for good): a guest with nothing to wait for leaves.
    func started(_ vm: String, succeeded: Bool) {
        let waitsForGuest = state.withLock { state in
            (state.sets[Naming.set(ofVM: vm) ?? ""]?.readiness ?? .running) != .running
        }
        if !succeeded || !waitsForGuest { settle(vm) }
    }

    /// A fresh look at a VM: it leaves the gate once it is ready by its set's readiness. (That it
    /// stopped is told by `settle`: a look at a VM not running yet may predate its start.)
    public func observed(_ vm: ObservedVM) {
        let done = state.withLock { state -> Bool in
            guard state.booting[vm.name] != nil else { return false }
            return SetTally.isReady(vm, readiness: state.sets[vm.set]?.readiness ?? .running)
        }
        if done { settle(vm.name) }
    }

    /// Whether a domain event ends a boot whatever readiness says: the guest stopped or is gone.
    public static func ends(_ kind: DomainEvent.Kind) -> Bool {
        switch kind {
        case .stopped, .crashed, .undefined, .shutdown: true
        default: false
        }
    }

    /// The VM is ready, stopped or gone: it no longer counts as booting.
    public func settle(_ vm: String) {
        let wake = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard let booting = state.booting.removeValue(forKey: vm) else { return [] }
            booting.expiry.cancel()
            return Self.admitWaiting(&state, gate: self)
        }
        for continuation in wake { continuation.resume() }
    }

    /// Guests booting now, by host; with `readiness`, only those of sets with that readiness.
    public func booting(readiness: Readiness? = nil) -> [(host: String, vm: String)] {
        state.withLock { state in
            state.booting.filter { vm, _ in
                readiness == nil || (state.sets[Naming.set(ofVM: vm) ?? ""]?.readiness ?? .running) == readiness
            }.map { (host: $0.value.host, vm: $0.key) }
        }
    }

    private func expire(_ vm: String) {
        let (host, handler) = state.withLock { state in (state.booting[vm]?.host, state.onTimeout) }
        guard let host else { return }
        settle(vm)
        handler?(host, vm)
    }

    private static func limit(_ state: State, host: String) -> Int {
        state.limits[host] ?? state.cpus[host] ?? unknownLimit
    }

    private static func room(_ state: State, host: String) -> Bool {
        state.booting.values.lazy.filter { $0.host == host }.count < limit(state, host: host)
    }

    private static func enter(_ state: inout State, host: String, vm: String, gate: BootGate) {
        let timeout = state.sets[Naming.set(ofVM: vm) ?? ""]?.timeout ?? .seconds(VMSetSpec.defaultReadinessTimeout)
        let expiry = Task { [weak gate] in
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            gate?.expire(vm)
        }
        state.booting[vm] = Booting(host: host, expiry: expiry)
    }

    /// Admits waiting starts, first come first served, while their hosts have room.
    private static func admitWaiting(_ state: inout State, gate: BootGate) -> [CheckedContinuation<Void, Never>] {
        var wake: [CheckedContinuation<Void, Never>] = []
        for host in state.waiting.keys.sorted() {
            while let next = state.waiting[host]?.first, room(state, host: host) {
                state.waiting[host]!.removeFirst()
                enter(&state, host: host, vm: next.vm, gate: gate)
                wake.append(next.continuation)
            }
        }
        return wake
    }
}
