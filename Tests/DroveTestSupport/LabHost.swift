import Foundation

/// Finds the lab hosts the integration tests run against (`drove lab up`; CI starts one).
public enum LabHost {
    public static var directory: String {
        ProcessInfo.processInfo.environment["DROVE_LAB_DIR"] ?? "/var/lib/drove/lab"
    }

    /// The libvirt socket of lab host `node-<index>`, if that host is running.
    public static func socket(_ index: Int = 1) -> String? {
        let path = "\(directory)/node-\(index)/run/libvirt-sock"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// The first lab host's socket, if it is running.
    public static var socket: String? { socket(1) }

    public static func uri(_ index: Int = 1) -> String? {
        socket(index).map { "qemu+unix:///system?socket=\($0)" }
    }

    /// Under CI a missing lab is a failure, never a skip.
    public static var required: Bool { ProcessInfo.processInfo.environment["CI"] != nil }

    /// Whether integration tests should run: a lab is up, or CI demands one.
    public static var shouldRun: Bool { socket != nil || required }
}
