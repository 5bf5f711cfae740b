import Foundation
import Libvirt
import Testing

/// The watch the rolling-update test relies on, against libvirt's in-process test driver (its
/// state is shared by every connection in the process): it sees each member go down and come
/// back, and keeps the most down at once.
@Suite struct UnavailabilityWatchTests {
    @Test(.timeLimit(.minutes(1)))
    func theWatchKeepsTheMostMembersDownAtOnce() async throws {
        let connection = try await Connection.open("test:///default")
        let prefix = "uw\(UUID().uuidString.prefix(6).lowercased())"
        let names = (0..<3).map { "\(prefix)-\($0)" }
        var domains: [Domain] = []
        for name in names {
            let domain = try await connection.defineDomain(xml: """
                <domain type='test'><name>\(name)</name><memory unit='MiB'>64</memory>
                <os><type arch='x86_64'>hvm</type></os></domain>
                """)
            try await domain.start()
            domains.append(domain)
        }
        // A domain outside the set, going down, does not count.
        let other = try await connection.defineDomain(xml: """
            <domain type='test'><name>\(prefix)-99</name><memory unit='MiB'>64</memory>
            <os><type arch='x86_64'>hvm</type></os></domain>
            """)
        try await other.start()

        let watch = try await UnavailabilityWatch.start(uris: ["test:///default"], members: Set(names))
        #expect(watch.unavailable == 0)
        try await other.destroy()
        try await domains[0].destroy()
        try await domains[0].start()
        for domain in domains[1...] { try await domain.destroy() }
        for _ in 0..<100 where watch.unavailable < 2 { try await Task.sleep(for: .milliseconds(50)) }
        for domain in domains[1...] { try await domain.start() }
        for _ in 0..<100 where watch.unavailable > 0 { try await Task.sleep(for: .milliseconds(50)) }
        let summary = await watch.stop()
        #expect(summary.worst == 2, "\(summary)")
        #expect(summary.unavailable == 0 && summary.started == 3 && summary.stopped == 3, "\(summary)")

        for domain in domains + [other] {
            if try await domain.isActive() { try await domain.destroy() }
            try await domain.undefine()
        }
        await connection.close()
    }
}
