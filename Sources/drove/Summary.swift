import DroveManifest
import DrovePlan

/// The tables `drove up` ends with.
enum Summary {
    static func sets(_ manifest: Manifest, _ fleet: ObservedFleet) -> String {
        let vms = fleet.hosts.values.flatMap { host in host.vms.values.map { (host.name, $0) } }
        let rows = manifest.vmSets.map { set -> [String] in
            let mine = vms.filter { $0.1.set == set.metadata.name }
            let running = mine.filter { $0.1.state == .running }.count
            let readiness = SetTally.readiness(of: set, in: manifest)
            let ready = mine.filter { SetTally.isReady($0.1, readiness: readiness) }.count
            let hosts = Set(mine.map(\.0)).sorted().joined(separator: ",")
            return [set.metadata.name, String(set.spec.replicas), String(mine.count), String(running), String(ready),
                    set.spec.runStrategy.rawValue, hosts.isEmpty ? "-" : hosts]
        }
        return Terminal.table([["SET", "DESIRED", "PRESENT", "RUNNING", "READY", "RUN", "HOSTS"]] + rows)
    }

    static func hosts(_ manifest: Manifest, _ fleet: ObservedFleet) -> String {
        let rows = manifest.hosts.map { host -> [String] in
            guard let observed = fleet.hosts[host.metadata.name], observed.isReachable else {
                return [host.metadata.name, "Unreachable", "-", "-", "-"]
            }
            let running = observed.vms.values.filter { $0.state == .running }.count
            let templates = observed.templates.values.filter(\.complete).count
            let memory = observed.vms.values.reduce(UInt64(0)) { $0 + $1.memoryBytes }
            return [host.metadata.name, "Ready", "\(running)/\(observed.vms.count)", String(templates),
                    "\(Terminal.bytes(memory)) of \(Terminal.bytes(observed.memoryBytes))"]
        }
        return Terminal.table([["HOST", "STATE", "VMS RUNNING", "TEMPLATES", "VM MEMORY"]] + rows)
    }
}
