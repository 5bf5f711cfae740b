import DroveHost
import Foundation
import Libvirt
import Testing

/// The last line of defence: whatever path a URI took, `LibvirtHost.connect` refuses one that
/// would run a program, and the marker program it names never runs. The control shows that
/// libvirt itself would run it.
@Suite(.serialized)
struct ConnectRefusalTests {
    @Test func connectRefusesAnExtURIAndRunsNothing() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-connect-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let marker = scratch.appendingPathComponent("ran")
        let program = scratch.appendingPathComponent("marker.sh")
        try "#!/bin/sh\ntouch \(marker.path)\n".write(to: program, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: program.path)
        let uri = "qemu+ext:///system?command=\(program.path)"

        await #expect(throws: HostURIRefused.self) {
            _ = try await LibvirtHost.connect(name: "evil", uri: uri, pool: "default", lanes: 1)
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(!FileManager.default.fileExists(atPath: marker.path))

        // Control: handed to libvirt directly, the same URI runs the program.
        _ = try? await Connection.open(uri, lanes: 1)
        var ran = false
        for _ in 0..<50 where !ran {
            ran = FileManager.default.fileExists(atPath: marker.path)
            if !ran { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(ran, "the marker program is not a valid witness: libvirt did not run it either")
    }
}
