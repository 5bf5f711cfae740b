import Crypto

/// SHA-256 as lowercase hex.
enum SHA256Hex {
    static func of(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

/// MAC addresses of VM NICs.
public enum MACAddress {
    /// A stable, locally administered unicast address for NIC `nic` of `<set>-<ordinal>`: `52:`
    /// (0x52 has the locally-administered bit set and the multicast bit clear, as QEMU's own
    /// 52:54:00 does) and 40 bits of SHA-256 of the three, so it survives rolling updates and
    /// collisions are checked across the manifest.
    public static func derived(set: String, ordinal: Int, nic: Int) -> String {
        let digest = Array(SHA256.hash(data: Array("\(set)\u{0}\(ordinal)\u{0}\(nic)".utf8)))
        return (["52"] + digest.prefix(5).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }).joined(separator: ":")
    }

    /// The NIC's address: its fixed one, else the derived one.
    public static func of(_ network: Network, set: String, ordinal: Int, nic: Int) -> String {
        network.mac ?? derived(set: set, ordinal: ordinal, nic: nic)
    }

    /// `aa:bb:cc:dd:ee:ff` in lowercase hex, unicast (the first octet's low bit clear).
    public static func isValid(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy { "0123456789abcdef".contains($0) } }),
              let first = UInt8(parts[0], radix: 16) else { return false }
        return first & 1 == 0
    }
}
