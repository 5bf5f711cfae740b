import DroveManifest
import DrovePlan
import DroveTestSupport
import Foundation
import Libvirt
import Testing
@testable import DroveHost

/// Reaching a VM on a real lab host: its console while it boots, and its console log volume
/// read from an offset.
@Suite(.enabled(if: LabHost.shouldRun, "no lab host running: start one with `drove lab up`"),
       .timeLimit(.minutes(5)))
struct ConsoleLabTests {
    let suffix = UUID().uuidString.prefix(6).lowercased()

    func connect() async throws -> LibvirtHost {
        let uri = try #require(LabHost.uri(), "CI needs a lab host: `drove lab up` did not run or failed")
        return try await LibvirtHost.connect(name: "node-1", uri: uri, pool: "default", lanes: 4)
    }

    func act(_ host: LibvirtHost, _ kind: Action.Kind) async throws {
        try await host.perform(Action(id: 0, host: host.name, kind: kind, dependsOn: []), progress: nil)
    }

    /// The tiny guest image as a template; a fresh digest, so the copy is this test's own.
    func tinyTemplate() throws -> TemplateImage {
        let path = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        let file = try #require(FileHandle(forReadingAtPath: path))
        defer { try? file.close() }
        // A qcow2 header holds the virtual size at bytes 24..<32, big-endian.
        let header = try #require(try file.read(upToCount: 32))
        let virtualBytes = header[24..<32].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let fileBytes = try file.seekToEnd()
        return TemplateImage(name: "tiny", digest: "console\(suffix)", format: "qcow2", path: path,
                             fileBytes: fileBytes, virtualBytes: virtualBytes)
    }

    @Test func theConsoleShowsTheGuestComingUp() async throws {
        let host = try await connect()
        let template = try tinyTemplate()
        let name = "console-\(suffix)"
        let instance = VMInstance(name: name, set: "console", ordinal: 0, domainType: "qemu",
                                  resources: Resources(vcpus: 1, memory: 96 << 20), nics: [NIC(network: Network(), mac: "52:00:00:00:01:02")],
                                  clone: .linked, template: template, specHash: "spec1")
        var seen = ""
        do {
            try await act(host, .copyTemplate(template))
            try await act(host, .createDisk(instance))
            try await act(host, .defineVM(instance))
            try await act(host, .startVM(name))
            let domain = try #require(try await host.connection.domain(named: name))
            let console = try await openWhenRunning(domain)
            let reading = Task {
                var text = ""
                for try await bytes in console.output {
                    text += String(decoding: bytes, as: UTF8.self)
                    if text.contains("drove-guest: ready") { break }
                }
                return text
            }
            let timeout = Task {
                try await Task.sleep(for: .seconds(180))
                reading.cancel()
            }
            seen = try await reading.value
            timeout.cancel()
            // Keys reach the guest (its init echoes nothing back, so only the send is checked).
            try await console.send(Array("\r".utf8))
            await console.close()
            await console.close()
        } catch {
            Issue.record(error)
        }
        #expect(seen.contains("drove-guest: ready"), "the console showed: \(seen.suffix(2000))")
        try await act(host, .removeVM(name))
        try await act(host, .deleteVolume(instance.volume))
        try await act(host, .deleteTemplateCopy(digest: template.digest, volume: template.volume))
        await host.close()
    }

    /// Opens the console as soon as the domain runs: right after a start it may not yet.
    func openWhenRunning(_ domain: Domain) async throws -> DomainStream {
        var attempts = 0
        while true {
            do {
                return try await domain.openConsole()
            } catch let error as LibvirtError {
                attempts += 1
                guard error.isOperationInvalid, attempts < 50 else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    @Test func theConsoleLogIsReadFromAnOffsetAndAMissingOneIsNamed() async throws {
        let host = try await connect()
        let vm = "log-\(suffix)"
        let text = "booting\ndrove-guest: ready\n"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("drove-log-\(suffix)").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }

        let missing = try await #require(throws: HostError.self) { try await host.consoleLog(vm: vm, from: 0) }
        #expect(missing.description.hasPrefix("no console log for \(vm) on node-1"), "\(missing)")
        #expect(!missing.transient)

        let pool = try await host.requirePool()
        let volume = try await pool.createVolume(xml: """
            <volume><name>\(Naming.consoleLogVolume(vm: vm))</name><capacity unit='bytes'>\(text.utf8.count)</capacity>
            <target><format type='raw'/></target></volume>
            """)
        try await volume.upload(from: file)
        let whole = try await host.consoleLog(vm: vm, from: 0)
        #expect(whole == ConsoleLogChunk(bytes: Array(text.utf8), nextOffset: 27))
        let rest = try await host.consoleLog(vm: vm, from: 8)
        #expect(String(decoding: rest.bytes, as: UTF8.self) == "drove-guest: ready\n")
        #expect(rest.nextOffset == 27)
        #expect(try await host.consoleLog(vm: vm, from: 27) == ConsoleLogChunk(bytes: [], nextOffset: 27))
        #expect(try await host.consoleLog(vm: vm, from: 100) == ConsoleLogChunk(bytes: [], nextOffset: 100))
        #expect(try await volume.download(offset: 8, length: 5) == Array("drove".utf8))
        try await volume.delete()
        await host.close()
    }
}
