import DroveAPI
import Foundation

// What the templates render: plain values, already formatted for people. Mustache reads them
// by reflection, so every field a template names is a stored property here.

/// The frame of every page.
struct Chrome {
    var title: String
    var heading: String
    var user: UserView?
    var csrf: String?
    var css = PortalAssets.stylesheet.path
    var js = PortalAssets.script.path
    var nav: Nav
    /// The page follows the watch stream (`data-watch` on `<main>`).
    var live: Bool

    struct Nav {
        var overview = false, templates = false, vms = false, deploy = false
    }
}

struct UserView {
    var name: String
    var role: String

    init(_ principal: Principal) {
        name = principal.name
        role = principal.role.rawValue
    }
}

/// A condition (or phase) as a badge.
struct BadgeView {
    var type: String
    var label: String
    var tone: String
    var reason: String
    var message: String?

    /// A host's Ready condition, worded as whether it answers.
    static func reachability(_ condition: APICondition) -> BadgeView {
        var badge = BadgeView(condition)
        badge.label = switch condition.status {
        case "True": "reachable"
        case "False": "unreachable"
        default: "unknown"
        }
        return badge
    }

    /// Ready True is good news, Degraded True bad news; Progressing True is work under way.
    init(_ condition: APICondition) {
        type = condition.type
        reason = condition.reason
        message = condition.message.isEmpty ? nil : condition.message
        let positive = condition.type != "Degraded" && condition.type != "Progressing"
        switch (condition.status, positive) {
        case ("True", true): tone = "ok"; label = condition.type
        case ("False", true): tone = "bad"; label = "not \(condition.type)"
        case ("True", false): tone = condition.type == "Degraded" ? "bad" : "warn"; label = condition.type
        case ("False", false): tone = "idle"; label = "not \(condition.type)"
        default: tone = "idle"; label = "\(condition.type)?"
        }
    }
}

struct EventsView {
    var items: [Item]

    struct Item {
        var time: String
        var clock: String
        var subject: String
        var reason: String
        var message: String
        var tone: String
    }

    init(_ events: [APIEvent]) {
        items = events.map {
            Item(time: APIJSON.formatTime($0.time), clock: PortalFormat.clock($0.time), subject: "\($0.kind)/\($0.name)",
                 reason: $0.reason, message: $0.message, tone: $0.type == "Warning" ? "warn" : "")
        }
    }
}

struct VMRow {
    var name: String
    var set: String
    var setHref: String
    var host: String
    var phase: String
    var tone: String
    var ready: String
    var addresses: [String]
    var message: String

    init(_ vm: VMSummary) {
        name = vm.name
        set = vm.vmSet
        setHref = PortalPaths.set(vm.vmSet)
        host = vm.host ?? "—"
        phase = vm.phase.rawValue
        tone = switch vm.phase {
        case .running: "ok"
        case .failed, .unknown: "bad"
        case .pending, .creating, .starting, .terminating: "warn"
        case .stopped: "idle"
        }
        ready = vm.ready ? "yes" : "no"
        addresses = vm.addresses
        message = vm.message ?? ""
    }
}

/// One choice of a `<select>`.
struct Choice {
    var value: String
    var selected: Bool
}

/// Formatting for people.
enum PortalFormat {
    static func bytes(_ value: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var amount = Double(value), unit = 0
        while amount >= 1024, unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: amount < 10 ? "%.1f %@" : "%.0f %@", amount, units[unit])
    }

    /// `19:11:04` (UTC) today, `2026-11-24 19:11` before.
    static func clock(_ date: Date, now: Date = Date()) -> String {
        let text = APIJSON.formatTime(date)
        let sameDay = text.prefix(10) == APIJSON.formatTime(now).prefix(10)
        return sameDay ? String(text.dropFirst(11).prefix(8)) : String(text.prefix(16)).replacingOccurrences(of: "T", with: " ")
    }
}

/// The portal's own paths.
enum PortalPaths {
    static func set(_ name: String) -> String {
        "/vmsets/" + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? name)
    }
}
