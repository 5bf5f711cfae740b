/// Drove's names on a host. Everything Drove owns in a pool starts with `drove-`; anything else
/// is never changed or deleted.
public enum Naming {
    public static let volumePrefix = "drove-"
    static let templatePrefix = "drove-tpl-"
    static let diskPrefix = "drove-vm-"
    static let readySuffix = ".ready"
    static let goldenPrefix = "drove-gold-"

    /// VMs of a set are `<set>-<ordinal>`.
    public static func vmName(set: String, ordinal: Int) -> String { "\(set)-\(ordinal)" }

    /// A template copy is named by its content digest, so a changed template is a new volume.
    public static func templateVolume(digest: String, format: String) -> String { "\(templatePrefix)\(digest).\(format)" }

    /// The empty marker volume written only after a template copy finished: without it the copy
    /// may be partial.
    public static func templateReadyMarker(digest: String) -> String { "\(templatePrefix)\(digest)\(readySuffix)" }

    public static func diskVolume(vm: String) -> String { "\(diskPrefix)\(vm).qcow2" }

    /// The VM's cloud-init NoCloud seed (an ISO 9660 image labelled `cidata`).
    public static func seedVolume(vm: String) -> String { "\(diskPrefix)\(vm).seed.iso" }

    /// The file libvirt's virtlogd writes the VM's serial console to: a volume in the pool, so
    /// it can be read back through libvirt from any host, and goes when the VM goes.
    public static func consoleLogVolume(vm: String) -> String { "\(diskPrefix)\(vm).console.log" }

    /// The volumes that belong to a VM besides its disk. They are made after the disk and
    /// deleted before it, so one left by a crash always has its disk beside it (a stray disk,
    /// whose deletion takes them too).
    public static func companionVolumes(vm: String) -> [String] { [seedVolume(vm: vm), consoleLogVolume(vm: vm), restoreImageVolume(vm: vm)] }

    /// The VM's own copy of its golden snapshot's memory image, its header rewritten to the
    /// VM's identity; it lives only while the VM is restored from it.
    public static func restoreImageVolume(vm: String) -> String { "\(diskPrefix)\(vm).restore" }

    /// A volume of a golden snapshot: `drove-gold-<template digest>-<key><suffix>`.
    static func goldenVolume(_ golden: GoldenName, _ suffix: String) -> String {
        "\(goldenPrefix)\(golden.templateDigest)-\(golden.key)\(suffix)"
    }

    public enum PoolEntry: Equatable, Sendable {
        case template(digest: String)
        case templateReady(digest: String)
        /// A volume of a golden snapshot; `part` is its suffix (`.qcow2`, `.save`, `.ready`…).
        case golden(GoldenName, part: String)
        case disk
        /// A seed or console log volume of the VM.
        case companion(vm: String)
        case notDroves
    }

    /// What a volume name in a pool is, by Drove's scheme.
    public static func classify(volume name: String) -> PoolEntry {
        if name.hasPrefix(goldenPrefix) {
            let rest = name.dropFirst(goldenPrefix.count)
            guard let dot = rest.firstIndex(of: "."), let dash = rest[..<dot].lastIndex(of: "-") else { return .notDroves }
            let golden = GoldenName(templateDigest: String(rest[..<dash]), key: String(rest[rest.index(after: dash)..<dot]))
            let part = String(rest[dot...])
            return golden.volumes.contains(name) ? .golden(golden, part: part) : .notDroves
        }
        if name.hasPrefix(templatePrefix) {
            let rest = name.dropFirst(templatePrefix.count)
            if rest.hasSuffix(readySuffix) { return .templateReady(digest: String(rest.dropLast(readySuffix.count))) }
            guard let dot = rest.lastIndex(of: ".") else { return .notDroves }
            return .template(digest: String(rest[..<dot]))
        }
        guard name.hasPrefix(diskPrefix) else { return .notDroves }
        if let vm = vm(ofDisk: name) { return vm.contains(".") ? .notDroves : .disk }
        // VM names are DNS labels: the first dot ends the name.
        let rest = name.dropFirst(diskPrefix.count)
        guard let dot = rest.firstIndex(of: "."), companionVolumes(vm: String(rest[..<dot])).contains(name) else { return .notDroves }
        return .companion(vm: String(rest[..<dot]))
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
