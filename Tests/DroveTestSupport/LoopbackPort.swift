/// Ports for the servers tests start on loopback.
public enum LoopbackPort {
    /// A random port below Linux's ephemeral range (32768–60999 by default), so that no
    /// outgoing connection (to PostgreSQL, libvirt, a browser) can be holding it as its own.
    public static func random() -> Int { Int.random(in: 10_000..<32_000) }
}
