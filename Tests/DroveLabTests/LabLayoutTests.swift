import Foundation
import Testing
@testable import DroveLab

@Suite struct LabLayoutTests {
    let layout = LabLayout(directory: URL(fileURLWithPath: "/var/lib/drove/lab", isDirectory: true))

    @Test func hostPathsAndURI() {
        let host = layout.host(2)
        #expect(host.name == "node-2")
        #expect(host.directory.path == "/var/lib/drove/lab/node-2")
        #expect(host.run.path == "/var/lib/drove/lab/node-2/run")
        #expect(host.pool.path == "/var/lib/drove/lab/node-2/pool")
        #expect(host.libvirtdPidFile.path == "/var/lib/drove/lab/node-2/run/libvirtd.pid")
        #expect(host.virtlogdPidFile.path == "/var/lib/drove/lab/node-2/run/virtlogd.pid")
        #expect(host.qemuRunDirectory.path == "/var/lib/drove/lab/node-2/run/qemu")
        #expect(host.uri == "qemu+unix:///system?socket=/var/lib/drove/lab/node-2/run/libvirt-sock")
        #expect(host.directories.map(\.lastPathComponent) == ["run", "lib", "etc", "log", "qemu", "cache", "pool"])
        #expect(layout.hostsManifest.path == "/var/lib/drove/lab/hosts.yaml")
    }

    @Test func onlyCanonicalHostNamesParse() {
        #expect(LabLayout.index(ofHostNamed: "node-1") == 1)
        #expect(LabLayout.index(ofHostNamed: "node-12") == 12)
        for name in ["node-0", "node-01", "node-", "node-x", "nodes-1", "hosts.yaml", "node--1"] {
            #expect(LabLayout.index(ofHostNamed: name) == nil, "\(name)")
        }
    }

    @Test func defaultDirectoryFollowsTheEnvironment() {
        #expect(LabLayout.defaultDirectory(environment: [:]).path == "/var/lib/drove/lab")
        #expect(LabLayout.defaultDirectory(environment: ["DROVE_LAB_DIR": ""]).path == "/var/lib/drove/lab")
        #expect(LabLayout.defaultDirectory(environment: ["DROVE_LAB_DIR": "/tmp/mylab"]).path == "/tmp/mylab")
    }

    @Test func hostsAreFoundByDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("drove-lab-layout-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["node-3", "node-1", "node-x", "other"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        // A file named like a host is not a host.
        try Data().write(to: dir.appendingPathComponent("node-2"))
        let lab = Lab(directory: dir)
        #expect(lab.hosts().map(\.name) == ["node-1", "node-3"])
        // No libvirtd runs for them.
        #expect(Lab.running(directory: dir).isEmpty)
    }
}
