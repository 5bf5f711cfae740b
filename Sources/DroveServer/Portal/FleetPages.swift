import DroveAPI
import DroveManifest
import Foundation

/// The read-only pages' contents, from what the API answers.
struct FleetPages: Sendable {
    let api: PortalAPI

    struct Overview {
        var chrome: Chrome
        var hosts: [HostRow]
        var sets: [SetRow]
        var templates: [TemplateRow]
        var events: EventsView

        struct HostRow {
            var name: String
            var ready: BadgeView?
            var vms: Int
            var vcpus: Int
            var memory: String
            var uri: String
        }

        struct SetRow {
            var name: String
            var href: String
            var template: String
            var readyCount: String
            var conditions: [BadgeView]
        }

        struct TemplateRow {
            var name: String
            var ready: BadgeView?
            var presence: String
        }
    }

    func overview(_ chrome: Chrome, as principal: Principal) async throws(APIError) -> Overview {
        let hosts = try await api.list(.host, as: principal)
        let sets = try await api.list(.vmSet, as: principal)
        let templates = try await api.list(.template, as: principal)
        let vms = try await api.vms(as: principal)
        let events = try await api.recentEvents(15, as: principal)

        // What each VM placed on a host claims there: its set's resources.
        let resources = Dictionary(sets.map { ($0.name, (vcpus: Int($0.summary?["vcpus"] ?? "") ?? 0,
                                                        memory: UInt64($0.summary?["memory"] ?? "") ?? 0)) },
                                   uniquingKeysWith: { first, _ in first })
        let hostRows = hosts.map { host in
            let placed = vms.filter { $0.host == host.name }
            return Overview.HostRow(
                name: host.name, ready: host.status?.condition("Ready").map(BadgeView.reachability), vms: placed.count,
                vcpus: placed.reduce(0) { $0 + (resources[$1.vmSet]?.vcpus ?? 0) },
                memory: PortalFormat.bytes(placed.reduce(0) { $0 + (resources[$1.vmSet]?.memory ?? 0) }),
                uri: host.summary?["uri"] ?? "")
        }
        let setRows = sets.map { set in
            let counters = set.status?.counters ?? [:]
            return Overview.SetRow(
                name: set.name, href: PortalPaths.set(set.name), template: set.summary?["template"] ?? "—",
                readyCount: "\(counters["ready"] ?? 0)/\(set.summary?["replicas"] ?? "\(counters["desired"] ?? 0)")",
                conditions: (set.status?.conditions ?? []).map(BadgeView.init))
        }
        let templateRows = templates.map { template in
            let copies = template.status?.hosts ?? [:]
            let present = copies.values.filter { $0.state == "Present" }.count
            return Overview.TemplateRow(name: template.name, ready: template.status?.condition("Ready").map(BadgeView.init),
                                        presence: copies.isEmpty ? "—" : "\(present) of \(copies.count)")
        }
        return Overview(chrome: chrome, hosts: hostRows, sets: setRows, templates: templateRows, events: EventsView(events))
    }

    struct Templates {
        var chrome: Chrome
        var hostNames: [String]
        var templates: [Row]
        var columns: Int

        struct Row {
            var name: String
            var owner: String
            var visibility: String
            var digest: String
            var shortDigest: String
            var size: String
            var copies: [Copy]
        }

        struct Copy {
            var host: String
            var state: String
            var tone: String
            var percent: Int?
            var message: String?
        }
    }

    func templates(_ chrome: Chrome, as principal: Principal) async throws(APIError) -> Templates {
        let templates = try await api.list(.template, as: principal)
        let hostNames = try await api.list(.host, as: principal).map(\.name)
        let rows = templates.map { template in
            let copies = template.status?.hosts ?? [:]
            // Pushed images are named by their digest; a template file's is computed by the controller.
            let digest = template.summary?["blob"] ?? ""
            let size = copies.values.compactMap(\.totalBytes).max()
            return Templates.Row(
                name: template.name, owner: template.owner ?? "—", visibility: template.summary?["visibility"] ?? "—",
                digest: digest, shortDigest: digest.isEmpty ? "—" : String(digest.prefix("sha256:".count + 12)), size: size.map(PortalFormat.bytes) ?? "—",
                copies: hostNames.map { host in
                    guard let copy = copies[host] else { return Templates.Copy(host: host, state: "—", tone: "idle") }
                    let tone = switch copy.state {
                    case "Present": "ok"
                    case "Copying": "warn"
                    case "Failed": "bad"
                    default: "idle"
                    }
                    return Templates.Copy(host: host, state: copy.state.lowercased(), tone: tone,
                                          percent: copy.state == "Copying" ? copy.percent ?? 0 : nil, message: copy.message)
                })
        }
        return Templates(chrome: chrome, hostNames: hostNames, templates: rows, columns: 5 + hostNames.count)
    }

    struct VMs {
        var chrome: Chrome
        var filters: Filters
        var countText: String
        var vms: [VMRow]
        var filtered: Bool

        struct Filters {
            var sets: [Choice]
            var hosts: [Choice]
            var phases: [Choice]
        }
    }

    /// Every VM, or those of one set, host and phase (each filter optional).
    func vms(_ chrome: Chrome, set: String?, host: String?, phase: String?, as principal: Principal) async throws(APIError) -> VMs {
        let all = try await api.vms(as: principal)
        let shown = all.filter { vm in
            (set == nil || vm.vmSet == set) && (host == nil || vm.host == host) && (phase == nil || vm.phase.rawValue == phase)
        }
        func choices(_ values: [String], _ selected: String?) -> [Choice] {
            Array(Set(values + [selected].compactMap { $0 })).sorted().map { Choice(value: $0, selected: $0 == selected) }
        }
        let filtered = set != nil || host != nil || phase != nil
        return VMs(
            chrome: chrome,
            filters: VMs.Filters(sets: choices(all.map(\.vmSet), set), hosts: choices(all.compactMap(\.host), host),
                                 phases: VMPhase.allCases.map { Choice(value: $0.rawValue, selected: $0.rawValue == phase) }),
            countText: filtered ? "\(shown.count) of \(all.count) \(all.count == 1 ? "VM" : "VMs")" : all.count == 1 ? "1 VM" : "\(all.count) VMs",
            vms: shown.map(VMRow.init), filtered: filtered)
    }
}
