import DroveEngine
import DroveHost
import DroveManifest
import DrovePlan
import Foundation
import Libvirt
import Synchronization

/// An in-memory host: it keeps templates, disks and VMs, applies actions to them the way a
/// libvirt host does (a copy without its ready marker is partial and replaced; events for
/// every domain change), and counts what happened, so the engine and the controller can be
/// tested in seconds without libvirt or QEMU.
public final class FakeHost: HostDriver {
    public struct State: Sendable {
        public var templates: [String: TemplateCopy] = [:]
        public var disks: Set<String> = []
        public var vms: [String: ObservedVM] = [:]
        public var foreign: Set<String> = []
        /// Actions running now, and the most that ever ran at once.
        public var running = 0
        public var maxRunning = 0
        public var performed: [String] = []
        /// Uploads started, by digest.
        public var uploads: [String: Int] = [:]
        /// Digests whose upload is under way.
        public var uploading: Set<String> = []
        /// Partial copies deleted while their upload was under way: a copy race.
        public var deletedWhileUploading = 0
        /// Full observations and single-domain reads made of this host.
        public var observations = 0
        public var domainReads = 0
        /// Action verbs that fail (with `transient`), and how many more times.
        public var failures: [String: (remaining: Int, transient: Bool)] = [:]
        public var unreachable: String?
        /// Each VM's console log, made empty with its disk (as the main host makes the volume)
        /// and gone with the VM; tests write into it with `appendConsoleLog`.
        public var consoleLogs: [String: [UInt8]] = [:]
        /// What `check` reports this host lacks.
        public var problems: [String] = []
        /// Started VMs, in order: the most booting (started, not yet ready) at once.
        public var booting = 0
        public var maxBooting = 0
        /// Golden snapshots by key; whether the template's guest asks for an identity after
        /// resuming (else a golden is marked unsupported); whether restores fail (and boot).
        public var goldens: [String: GoldenCopy] = [:]
        public var guestsResume = true
        public var restoresFail = false
        /// VMs restored from a golden snapshot, and VMs that booted instead.
        public var restored: [String] = []
        public var bootedInstead: [String] = []
    }

    public let name: String
    public let state = Mutex(State())
    let delay: Duration
    let copyDelay: Duration
    let cpus: Int
    let memoryBytes: UInt64
    /// Whether a started guest opens its agent channel (a moment later), as the tiny image does.
    let guestsReport: Bool
    /// How long a started guest takes to open its agent channel.
    let bootTime: Duration
    private let continuation = Mutex<AsyncStream<HostEvent>.Continuation?>(nil)

    public init(name: String, delay: Duration = .zero, copyDelay: Duration = .zero, cpus: Int = 8,
                memoryBytes: UInt64 = 16 << 30, guestsReport: Bool = true, bootTime: Duration = .milliseconds(5)) {
        self.name = name
        self.delay = delay
        self.copyDelay = copyDelay
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.guestsReport = guestsReport
        self.bootTime = bootTime
    }

    public func observe() async -> ObservedHost {
        state.withLock { state in
            state.observations += 1
            if let reason = state.unreachable { return ObservedHost(name: name, unreachable: reason) }
            let used = Set(state.vms.values.map(\.volume))
            return ObservedHost(name: name, cpus: cpus, memoryBytes: memoryBytes,
                                templates: state.templates, vms: state.vms, foreignDomains: state.foreign,
                                strayVolumes: state.disks.subtracting(used), goldens: state.goldens, hypervisorVersion: 8_002_000)
        }
    }

    public func observeDomain(_ name: String) async throws -> DomainObservation {
        try state.withLock { state in
            state.domainReads += 1
            if let reason = state.unreachable { throw HostError(host: self.name, object: name, cause: reason, transient: true) }
            if let vm = state.vms[name] { return .drove(vm) }
            return state.foreign.contains(name) ? .foreign : .absent
        }
    }

    /// As libvirt (one close callback per connection), one subscriber at a time: a second
    /// while the first listens is refused.
    public func events() async throws -> AsyncStream<HostEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: HostEvent.self)
        let taken = self.continuation.withLock { current -> Bool in
            if current != nil { return true }
            current = continuation
            return false
        }
        if taken { throw HostError(host: name, object: "events", cause: "already subscribed on this connection", transient: false) }
        continuation.onTermination = { [weak self] _ in self?.continuation.withLock { $0 = nil } }
        return stream
    }

    /// Sends an event as libvirt would.
    public func emit(_ event: HostEvent) {
        _ = continuation.withLock { $0 }?.yield(event)
    }

    /// The daemon dies: the connection closes and the host answers nothing until `revive`.
    public func kill(_ reason: String = "connection closed (endOfFile)") {
        state.withLock { $0.unreachable = reason }
        let continuation = continuation.withLock { current in
            defer { current = nil }
            return current
        }
        continuation?.yield(.closed(reason: reason))
        continuation?.finish()
    }

    public func revive() {
        state.withLock { $0.unreachable = nil }
    }

    /// Something other than Drove changes a domain (a person with virsh, a crash).
    public func outside(_ change: @Sendable (inout State) -> Void, event vm: String, _ kind: DomainEvent.Kind) {
        state.withLock { change(&$0) }
        emit(.domain(name: vm, kind: kind))
    }

    public func perform(_ action: Action, progress: TransferProgress?) async throws -> String? {
        let failure: Bool? = try state.withLock { state in
            if let reason = state.unreachable { throw HostError(host: name, object: action.summary, cause: reason, transient: true) }
            state.running += 1
            state.maxRunning = max(state.maxRunning, state.running)
            guard let planned = state.failures[action.verb], planned.remaining > 0 else { return nil }
            state.failures[action.verb]!.remaining -= 1
            return planned.transient
        }
        defer { state.withLock { $0.running -= 1 } }
        if delay > .zero { try? await Task.sleep(for: delay) }
        if let transient = failure {
            throw HostError(host: name, object: action.summary, cause: "injected failure", transient: transient)
        }
        if case let .copyTemplate(image) = action.kind {
            try await copy(image, progress: progress)
            return nil
        }
        var note: String?
        let events: [HostEvent] = try state.withLock { state in
            state.performed.append(action.summary)
            switch action.kind {
            case .copyTemplate:
                return []
            case let .createDisk(vm):
                state.disks.insert(vm.volume)
                state.consoleLogs[vm.name] = state.consoleLogs[vm.name] ?? []
                return []
            case let .defineVM(vm):
                state.vms[vm.name] = ObservedVM(name: vm.name, set: vm.set, ordinal: vm.ordinal, specHash: vm.specHash,
                                                templateDigest: vm.template.digest, volume: vm.volume,
                                                vcpus: vm.resources.vcpus, memoryBytes: vm.resources.memory, state: .stopped,
                                                addressable: vm.nics.contains { $0.network.type != .user }, golden: vm.golden?.name.key)
                return [.domain(name: vm.name, kind: .defined)]
            case let .restoreVM(name, golden):
                guard state.vms[name]?.state != .running else { return [] }
                if state.goldens[golden]?.state != .complete || state.restoresFail {
                    state.bootedInstead.append(name)
                    note = "booted instead: the restore failed"
                } else {
                    state.restored.append(name)
                }
                state.vms[name]?.state = .running
                if guestsReport {
                    state.booting += 1
                    state.maxBooting = max(state.maxBooting, state.booting)
                }
                return [.domain(name: name, kind: .started)]
            case let .makeGolden(golden):
                if state.goldens[golden.name.key]?.state == .complete { return [] }
                guard state.guestsResume else {
                    state.goldens[golden.name.key] = GoldenCopy(name: golden.name, state: .unsupported)
                    throw HostError(host: name, object: action.summary, cause: "its guest never asked for an identity", transient: false)
                }
                state.goldens[golden.name.key] = GoldenCopy(name: golden.name, state: .complete)
                return []
            case let .deleteGolden(golden):
                state.goldens[golden.key] = nil
                return []
            case let .startVM(name):
                guard state.vms[name]?.state != .running else { return [] }
                state.vms[name]?.state = .running
                if guestsReport {
                    state.booting += 1
                    state.maxBooting = max(state.maxBooting, state.booting)
                }
                return [.domain(name: name, kind: .started)]
            case let .stopVM(name):
                guard state.vms[name]?.state == .running else { return [] }
                state.vms[name]?.state = .stopped
                state.vms[name]?.agentConnected = false
                return [.domain(name: name, kind: .stopped)]
            case let .removeVM(name):
                state.consoleLogs[name] = nil
                guard state.vms.removeValue(forKey: name) != nil else { return [] }
                return [.domain(name: name, kind: .undefined)]
            case let .deleteVolume(volume):
                state.disks.remove(volume)
                return []
            case let .deleteTemplateCopy(digest, _):
                state.templates[digest] = nil
                return []
            }
        }
        for event in events { emit(event) }
        if guestsReport, let vm = action.startedVM {
            Task {
                try? await Task.sleep(for: bootTime)
                let booted = state.withLock { state -> Bool in
                    state.booting -= 1
                    guard state.vms[vm]?.state == .running else { return false }
                    state.vms[vm]?.agentConnected = true
                    // A guest on a libvirt network or bridge has taken its DHCP lease by then.
                    if state.vms[vm]?.addressable == true, let ordinal = state.vms[vm]?.ordinal {
                        state.vms[vm]?.addresses = ["10.0.\(ordinal / 250).\(ordinal % 250 + 2)"]
                    }
                    return true
                }
                if booted { emit(.domain(name: vm, kind: .agentConnected)) }
            }
        }
        return note
    }

    /// As `LibvirtHost` copies: a complete copy is kept, a partial one is deleted and uploaded anew.
    private func copy(_ image: TemplateImage, progress: TransferProgress?) async throws {
        let complete = state.withLock { state -> Bool in
            state.performed.append("copy template \(image.name)@\(image.digest.prefix(12)) to \(name)")
            if state.templates[image.digest]?.complete == true { return true }
            if state.templates[image.digest] != nil, state.uploading.contains(image.digest) { state.deletedWhileUploading += 1 }
            state.templates[image.digest] = TemplateCopy(digest: image.digest, volume: image.volume, complete: false)
            state.uploads[image.digest, default: 0] += 1
            state.uploading.insert(image.digest)
            return false
        }
        if complete { return }
        if copyDelay > .zero { try? await Task.sleep(for: copyDelay) }
        progress?(TransferStats(dataBytes: image.fileBytes, holeBytes: 0))
        state.withLock { state in
            state.uploading.remove(image.digest)
            state.templates[image.digest]?.complete = true
        }
    }

    public func check(_ host: DroveManifest.Host) async -> [String] {
        state.withLock { $0.problems }
    }

    public func close() async {}

    /// The guest writes to its serial console.
    public func appendConsoleLog(vm: String, _ text: String) {
        state.withLock { $0.consoleLogs[vm, default: []] += Array(text.utf8) }
    }

    public func consoleLog(vm: String, from offset: UInt64) async throws -> ConsoleLogChunk {
        try state.withLock { state in
            if let reason = state.unreachable { throw HostError(host: name, object: "vm \(vm)", cause: reason, transient: true) }
            guard let log = state.consoleLogs[vm] else {
                throw HostError(host: name, object: "no console log for \(vm)", cause: "there is no log volume", transient: false)
            }
            let bytes = offset < UInt64(log.count) ? Array(log[Int(offset)...]) : []
            return ConsoleLogChunk(bytes: bytes, nextOffset: offset + UInt64(bytes.count))
        }
    }
}

/// Hands out fake hosts by name; an unknown name, or a killed host, does not connect.
public struct FakeConnector: HostConnector {
    public let hosts: [String: FakeHost]

    public init(_ hosts: [FakeHost]) {
        self.hosts = Dictionary(uniqueKeysWithValues: hosts.map { ($0.name, $0) })
    }

    public func connect(_ host: DroveManifest.Host) async throws -> any HostDriver {
        guard let fake = hosts[host.metadata.name] else {
            throw HostError(host: host.metadata.name, object: "host", cause: "no such fake host", transient: false)
        }
        if let reason = fake.state.withLock({ $0.unreachable }) {
            throw HostError(host: host.metadata.name, object: "host", cause: reason, transient: true)
        }
        return fake
    }
}
