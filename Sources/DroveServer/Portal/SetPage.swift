import DroveAPI
import DroveManifest
import Foundation
import Yams

/// A VM set's page: its rollout, VMs and events, and for whoever may change it, scale and
/// delete.
struct SetPage {
    var chrome: Chrome
    var name: String
    var template: String
    var generation: Int
    var observed: Int?
    var counters: [Counter]
    var deleting: Bool
    var conditions: [Condition]
    var vms: [VMRow]
    var filtered = false
    var events: EventsView
    var canChange: Bool
    var replicas: String
    var scaleAction: String
    var deleteAction: String
    var notice: Notice?

    struct Counter {
        var label: String
        var value: Int
    }

    struct Condition {
        var type: String
        var label: String
        var tone: String
        var reason: String
        var message: String
        var since: String
        var sinceClock: String
    }

    struct Notice {
        var text: String
        var tone: String
    }

    static func make(_ chrome: Chrome, set: APIObject, vms: [VMSummary], events: [APIEvent], principal: Principal, notice: Notice?) -> SetPage {
        let counters = set.status?.counters ?? [:]
        let order = ["desired", "present", "running", "ready", "updated", "unknown"]
        return SetPage(
            chrome: chrome, name: set.name, template: set.summary?["template"] ?? "—", generation: set.generation,
            observed: set.status.map(\.observedGeneration).flatMap { $0 == set.generation ? nil : $0 },
            counters: order.compactMap { key in counters[key].map { Counter(label: key.capitalized, value: $0) } },
            deleting: set.deletionRequested,
            conditions: (set.status?.conditions ?? []).map { condition in
                let badge = BadgeView(condition)
                return Condition(type: condition.type, label: badge.label, tone: badge.tone, reason: condition.reason,
                                 message: condition.message, since: APIJSON.formatTime(condition.lastTransitionTime),
                                 sinceClock: PortalFormat.clock(condition.lastTransitionTime))
            },
            vms: vms.map(VMRow.init), events: EventsView(events),
            canChange: !set.deletionRequested && mayChange(set, principal),
            replicas: set.summary?["replicas"] ?? "", scaleAction: PortalPaths.set(set.name) + "/scale",
            deleteAction: PortalPaths.set(set.name) + "/delete", notice: notice)
    }

    /// An admin changes any set; a deployer the sets it owns. The API decides in the end: this
    /// only hides buttons it would refuse.
    static func mayChange(_ set: APIObject, _ principal: Principal) -> Bool {
        principal.role == .admin || (principal.role == .deployer && set.owner == principal.name)
    }

    /// `manifest` (one VMSet document) with `spec.replicas` set to `replicas`; every other
    /// field, comments aside, kept as it was.
    static func scaled(_ manifest: String, to replicas: Int) -> String? {
        guard case var .mapping(document)? = try? Yams.compose(yaml: manifest),
              case var .mapping(spec)? = document["spec"] else { return nil }
        spec["replicas"] = .scalar(.init(String(replicas), Tag(.int)))
        document["spec"] = .mapping(spec)
        return try? Yams.serialize(node: .mapping(document))
    }
}
