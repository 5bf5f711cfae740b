import DroveManifest

/// The hash of everything in a VM that needs a replacement when it changes: resources, CPU
/// mode, NICs, cloud-init seed, clone mode, template content and the domain type. Stored in the VM's metadata
/// and compared on every pass.
enum SpecHash {
    static func of(_ spec: VMSetSpec, templateDigest: String, domainType: String) -> String {
        let canonical = ([
            "v2",
            "vcpus=\(spec.resources.vcpus)",
            "memory=\(spec.resources.memory)",
            "cpu=\(spec.resources.cpuMode.rawValue)",
        ] + spec.networks.map { "net=\($0.type.rawValue),\($0.source ?? ""),\($0.model),\($0.mac ?? "")" } + [
            "seed=\(spec.cloudInit?.digest ?? "")",
            "clone=\(spec.clone.rawValue)",
            "template=\(templateDigest)",
            "type=\(domainType)",
        ]).joined(separator: "|")
        return fnv1a64(canonical)
    }

    /// FNV-1a, 64 bits, as 16 hex digits: stable across runs and platforms (unlike `Hasher`).
    /// It detects change; it is not a security boundary.
    static func fnv1a64(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
