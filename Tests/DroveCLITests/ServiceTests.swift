import DroveTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `drove serve` as a system service: it tells systemd when it is ready and when it stops
/// (sd_notify), its unit passes `systemd-analyze verify`, and scripts/install.sh puts the binary,
/// the unit, a token and the options file in place.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ServiceTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-service-\(UUID().uuidString.prefix(6))")

    /// A datagram socket at `path`, as systemd's `$NOTIFY_SOCKET`, with a receive timeout.
    final class NotifySocket: @unchecked Sendable {
        // @unchecked: the descriptor is used by one test at a time.
        let fd: Int32

        init(path: String) throws {
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            try #require(fd >= 0 && bound == 0, "cannot bind \(path)")
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        /// The next datagram, or nil after 30 s.
        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : nil
        }

        deinit { close(fd) }
    }

    @Test func serveSaysReadyOnceItListensAndStoppingOnSIGTERM() async throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let notify = try NotifySocket(path: scratch.appendingPathComponent("notify").path)
        let port = LoopbackPort.random()
        let server = Process()
        server.executableURL = droveBinary
        server.arguments = ["serve", "--data-dir", scratch.appendingPathComponent("state").path, "--port", String(port)]
        server.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": scratch.appendingPathComponent("notify").path]) { $1 }
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { server.terminate() } }

        let ready = notify.receive()
        #expect(ready?.hasPrefix("READY=1\n") == true, "\(ready ?? "nothing within 30 s")")
        #expect(ready?.contains("STATUS=listening on 127.0.0.1:\(port)") == true)
        // Ready means the API answers already.
        let (_, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)

        server.terminate()
        #expect(notify.receive() == "STOPPING=1")
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)
    }

    @Test func theUnitPassesSystemdAnalyzeVerify() throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // The unit as installed, but naming the binary this build made.
        let unit = try String(contentsOf: LabHost.repository.appendingPathComponent("scripts/systemd/drove.service"), encoding: .utf8)
        #expect(unit.contains("Type=notify") && unit.contains("Restart=on-failure") && unit.contains("StateDirectory="))
        let copy = scratch.appendingPathComponent("drove.service")
        try unit.replacingOccurrences(of: "/usr/local/bin/drove", with: droveBinary.path).write(to: copy, atomically: true, encoding: .utf8)
        let result = try run("/usr/bin/systemd-analyze", ["verify", copy.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains(copy.lastPathComponent), "systemd-analyze has remarks on the unit: \(result.output)")
    }

    @Test func installPutsTheBinaryUnitTokenAndOptionsInPlace() throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let root = scratch.appendingPathComponent("root")
        let install = LabHost.repository.appendingPathComponent("scripts/install.sh").path
        let first = try run("/bin/bash", [install, "--binary", droveBinary.path], environment: ["DESTDIR": root.path])
        #expect(first.status == 0, "\(first.output)")
        let files = FileManager.default
        #expect(files.isExecutableFile(atPath: root.appendingPathComponent("usr/local/bin/drove").path))
        #expect(files.fileExists(atPath: root.appendingPathComponent("etc/systemd/system/drove.service").path))
        #expect(files.fileExists(atPath: root.appendingPathComponent("etc/default/drove").path))
        let tokenPath = root.appendingPathComponent("etc/drove/admin-token").path
        let token = try String(contentsOfFile: tokenPath, encoding: .utf8)
        #expect(token.count >= 32)
        let mode = (try files.attributesOfItem(atPath: tokenPath)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        // Run again, it keeps the token.
        #expect(try run("/bin/bash", [install, "--binary", droveBinary.path], environment: ["DESTDIR": root.path]).status == 0)
        #expect(try String(contentsOfFile: tokenPath, encoding: .utf8) == token)
    }

    func run(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
