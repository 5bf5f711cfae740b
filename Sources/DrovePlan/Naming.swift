/// Drove's names on a host. Everything Drove owns in a pool starts with `drove-`; anything else
/// is never changed or deleted.
public enum Naming {
    public static let volumePrefix = "drove-"
    static let templatePrefix = "drove-tpl-"
    static let diskPrefix = "drove-vm-"
    static let readySuffix = ".ready"

    /// VMs of a set are `<set>-<ordinal>`.
    public static func vmName(set: String, ordinal: Int) -> String { "\(set)-\(ordinal)" }

    /// A template copy is named by its content digest, so a changed template is a new volume.
    public static func templateVolume(digest: String, format: String) -> String { "\(templatePrefix)\(digest).\(format)" }

    /// The empty marker volume written only after a template copy finished: without it the copy
    /// may be partial.
    public static func templateReadyMarker(digest: String) -> String { "\(templatePrefix)\(digest)\(readySuffix)" }

    public static func diskVolume(vm: String) -> String { "\(diskPrefix)\(vm).qcow2" }

    public enum PoolEntry: Equatable, Sendable {
        case template(digest: String)
        case templateReady(digest: String)
        case disk
        case notDroves
    }

    /// What a volume name in a pool is, by Drove's scheme.
    public static func classify(volume name: String) -> PoolEntry {
        if name.hasPrefix(templatePrefix) {
            let rest = name.dropFirst(templatePrefix.count)
            if rest.hasSuffix(readySuffix) { return .templateReady(digest: String(rest.dropLast(readySuffix.count))) }
            guard let dot = rest.lastIndex(of: ".") else { return .notDroves }
            return .template(digest: String(rest[..<dot]))
        }
        if name.hasPrefix(diskPrefix) { return .disk }
        return .notDroves
    }
}

extension Naming {
    /// The VM a Drove disk volume belongs to.
    public static func vm(ofDisk volume: String) -> String? {
        guard volume.hasPrefix(diskPrefix), volume.hasSuffix(".qcow2") else { return nil }
        return String(volume.dropFirst(diskPrefix.count).dropLast(".qcow2".count))
    }

    /// The set a VM name names (`web` for `web-3`), or nil for a name that is not `<set>-<ordinal>`.
    public static func set(ofVM vm: String) -> String? {
        guard let dash = vm.lastIndex(of: "-") else { return nil }
        let ordinal = vm[vm.index(after: dash)...]
        guard dash > vm.startIndex, !ordinal.isEmpty, ordinal.allSatisfy(\.isASCIIDigit) else { return nil }
        return String(vm[..<dash])
    }

    /// Whether `vm` is named as a member of `set`: `<set>-<ordinal>`.
    public static func vm(_ vm: String, belongsTo set: String) -> Bool {
        guard vm.hasPrefix(set + "-") else { return false }
        let ordinal = vm.dropFirst(set.count + 1)
        return !ordinal.isEmpty && ordinal.allSatisfy(\.isASCIIDigit)
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
