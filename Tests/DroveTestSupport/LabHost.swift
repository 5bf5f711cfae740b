import Foundation

/// Finds the lab hosts the integration tests run against (`drove lab up`; CI starts one).
public enum LabHost {
    public static var directory: String {
        ProcessInfo.processInfo.environment["DROVE_LAB_DIR"] ?? "/var/lib/drove/lab"
    }

    /// The libvirt socket of lab host `node-<index>`, if that host is running.
    public static func socket(_ index: Int = 1, in lab: String = directory) -> String? {
        let path = "\(lab)/node-\(index)/run/libvirt-sock"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// The first lab host's socket, if it is running.
    public static var socket: String? { socket(1) }

    public static func uri(_ index: Int = 1, in lab: String = directory) -> String? {
        socket(index, in: lab).map { "qemu+unix:///system?socket=\($0)" }
    }

    /// Under CI a missing lab is a failure, never a skip.
    public static var required: Bool { ProcessInfo.processInfo.environment["CI"] != nil }

    /// Whether integration tests should run: a lab is up, or CI demands one.
    public static var shouldRun: Bool { socket != nil || required }
}

extension LabHost {
    /// The repository root (for the built `drove` binary and the tiny guest template).
    public static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The bootable tiny guest image `scripts/build-tiny-template.sh` makes.
    public static var tinyTemplate: String? {
        let path = ProcessInfo.processInfo.environment["DROVE_TINY_TEMPLATE"]
            ?? repository.appendingPathComponent("manifests/images/tiny.qcow2").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// Lab hosts `node-1` … `node-<count>` as a Host manifest, if all are running.
    public static func hostsYAML(count: Int, in lab: String = directory) -> String? {
        var documents: [String] = []
        for index in 1...count {
            guard let uri = uri(index, in: lab) else { return nil }
            documents.append("""
                apiVersion: drove/v1
                kind: Host
                metadata: { name: node-\(index), labels: { rack: \(index == count ? "b" : "a") } }
                spec: { uri: "\(uri)", domainType: qemu, maxParallel: 4, networks: [drove-lab] }
                """)
        }
        return documents.joined(separator: "\n---\n")
    }
}
