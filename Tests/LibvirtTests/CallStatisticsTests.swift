import Foundation
import Testing
@testable import Libvirt

/// The call counter the benchmark reads. The counters are process-wide and other tests run at
/// the same time, so these only check that what this test did was counted.
@Suite struct CallStatisticsTests {
    @Test func readsCountAsCallsAndChangesAsMutatingCalls() async throws {
        let connection = try await Connection.open("test:///default")
        let name = "stats-\(UUID().uuidString.prefix(8).lowercased())"

        let beforeRead = CallStatistics.snapshot()
        _ = try await connection.listAllDomains()
        _ = try await connection.nodeInfo()
        #expect(CallStatistics.snapshot().since(beforeRead).calls >= 2)

        let beforeDefine = CallStatistics.snapshot()
        let domain = try await connection.defineDomain(xml: """
            <domain type='test'><name>\(name)</name><memory unit='MiB'>64</memory>
            <os><type arch='x86_64'>hvm</type></os></domain>
            """)
        try await domain.start()
        try await domain.destroy()
        try await domain.undefine()
        let changes = CallStatistics.snapshot().since(beforeDefine)
        for operation in ["virDomainDefineXML", "virDomainCreate", "virDomainDestroy", "virDomainUndefineFlags"] {
            #expect(changes.mutating[operation, default: 0] >= 1, "\(operation) was not counted as mutating")
        }
        #expect(changes.mutatingCalls >= 4)
        #expect(changes.calls >= 4)
        await connection.close()
    }

    @Test func sinceKeepsOnlyWhatChanged() {
        let earlier = CallStatistics.Snapshot(calls: 10, mutating: ["virDomainCreate": 2, "virStorageVolDelete": 1])
        let later = CallStatistics.Snapshot(calls: 15, mutating: ["virDomainCreate": 3, "virStorageVolDelete": 1, "virDomainDefineXML": 1])
        let delta = later.since(earlier)
        #expect(delta.calls == 5)
        #expect(delta.mutating == ["virDomainCreate": 1, "virDomainDefineXML": 1])
        #expect(delta.mutatingCalls == 2)
    }
}
