import DroveHost
import DrovePlan
import Foundation
import Libvirt
import Synchronization

/// An in-memory host: it keeps templates, disks and VMs, and applies actions to them the way
/// the libvirt host does, so the engine can be tested without libvirt.
final class FakeHost: HostDriver {
    struct State {
        var templates: [String: TemplateCopy] = [:]
        var disks: Set<String> = []
        var vms: [String: ObservedVM] = [:]
        var running = 0
        var maxRunning = 0
        var performed: [String] = []
        /// Action verbs that fail (with `transient`), and how many more times.
        var failures: [String: (remaining: Int, transient: Bool)] = [:]
        var unreachable: String?
    }

    let name: String
    let state = Mutex(State())
    let delay: Duration

    init(name: String, delay: Duration = .zero) {
        self.name = name
        self.delay = delay
    }

    func observe() async -> ObservedHost {
        state.withLock { state in
            if let reason = state.unreachable { return ObservedHost(name: name, unreachable: reason) }
            let used = Set(state.vms.values.map(\.volume))
            return ObservedHost(name: name, cpus: 8, memoryBytes: 16 << 30, freeMemoryBytes: 16 << 30,
                                templates: state.templates, vms: state.vms, strayVolumes: state.disks.subtracting(used))
        }
    }

    func perform(_ action: Action, progress: TransferProgress?) async throws {
        let failure: (Bool)? = state.withLock { state in
            state.running += 1
            state.maxRunning = max(state.maxRunning, state.running)
            guard let planned = state.failures[action.verb], planned.remaining > 0 else { return nil }
            state.failures[action.verb]!.remaining -= 1
            return planned.transient
        }
        if delay > .zero { try? await Task.sleep(for: delay) }
        defer { state.withLock { $0.running -= 1 } }
        if let transient = failure {
            throw HostError(host: name, object: action.summary, cause: "injected failure", transient: transient)
        }
        state.withLock { state in
            state.performed.append(action.summary)
            switch action.kind {
            case let .copyTemplate(image):
                state.templates[image.digest] = TemplateCopy(digest: image.digest, volume: image.volume, complete: true)
                progress?(TransferStats(dataBytes: image.fileBytes, holeBytes: 0))
            case let .createDisk(vm):
                state.disks.insert(vm.volume)
            case let .defineVM(vm):
                state.vms[vm.name] = ObservedVM(name: vm.name, set: vm.set, ordinal: vm.ordinal, specHash: vm.specHash,
                                                templateDigest: vm.template.digest, volume: vm.volume,
                                                vcpus: vm.resources.vcpus, memoryBytes: vm.resources.memory, state: .stopped)
            case let .startVM(name): state.vms[name]?.state = .running
            case let .stopVM(name): state.vms[name]?.state = .stopped
            case let .removeVM(name): state.vms[name] = nil
            case let .deleteVolume(volume): state.disks.remove(volume)
            case let .deleteTemplateCopy(digest, _): state.templates[digest] = nil
            }
        }
    }

    func close() async {}
}
