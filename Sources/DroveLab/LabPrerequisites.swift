import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Absolute paths of the programs a lab runs.
public struct LabTools: Sendable, Equatable {
    public let libvirtd: String
    public let virtlogd: String
    public let unshare: String
    public let nsenter: String
}

/// What must be true of the machine before `up`: root, the packages, libvirt's QEMU user.
enum LabPrerequisites {
    /// The packages `drove lab` needs on Debian, always named together in the message.
    static let basePackages = [
        "libvirt-daemon", "libvirt-daemon-driver-qemu", "qemu-system-x86", "qemu-utils", "dnsmasq-base", "iptables",
    ]

    /// Each program, with the Debian package that ships it.
    static let programs: [(name: String, package: String)] = [
        ("libvirtd", "libvirt-daemon"),
        ("virtlogd", "libvirt-daemon"),
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("qemu-img", "qemu-utils"),
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("mount", "mount"),
        ("bash", "bash"),
        // Each host's libvirt network: its namespace's loopback is brought up with ip; libvirtd
        // serves DHCP with dnsmasq and, being libvirt 9, writes the isolated network's firewall
        // rules with the iptables command (iptables-nft, inside the host's own network namespace).
        ("ip", "iproute2"),
        ("dnsmasq", "dnsmasq-base"),
        ("iptables", "iptables"),
    ]
    /// libvirt's drivers the lab needs, by the name a missing one is reported under, with their
    /// module file and the Debian package that ships it.
    static let drivers: [(name: String, module: String, package: String)] = [
        ("libvirt's QEMU driver (libvirt_driver_qemu.so)", "libvirt_driver_qemu.so", "libvirt-daemon-driver-qemu"),
        ("libvirt's network driver (libvirt_driver_network.so)", "libvirt_driver_network.so", "libvirt-daemon"),
    ]

    /// Daemons live in sbin, which a non-login root shell may lack from PATH.
    static func searchPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        let path = environment["PATH"].map { $0.split(separator: ":").map(String.init) } ?? []
        var seen = Set<String>()
        return (path + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
            .filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    static func find(_ name: String, in path: [String]) -> String? {
        path.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func hasDriver(module: String) -> Bool {
        var candidates = ["/usr/lib64/libvirt/connection-driver", "/usr/lib/libvirt/connection-driver"]
        let multiarch = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? []
        candidates += multiarch.map { "/usr/lib/\($0)/libvirt/connection-driver" }
        return candidates.contains { FileManager.default.fileExists(atPath: "\($0)/\(module)") }
    }

    /// The error for `missing` programs (pure): the base packages plus whatever else ships them.
    static func missingError(_ missing: [String]) -> LabError {
        var packages = basePackages
        for name in missing {
            let package = programs.first { $0.name == name }?.package ?? drivers.first { $0.name == name }?.package
            if let package, !packages.contains(package) { packages.append(package) }
        }
        return .missingPrerequisites(missing: missing, packages: packages)
    }

    static func requireRoot() throws {
        guard geteuid() == 0 else { throw LabError.notRoot }
    }

    /// Checks root and the programs; returns where they are.
    static func check() throws -> LabTools {
        try requireRoot()
        let path = searchPath()
        var found: [String: String] = [:]
        var missing: [String] = []
        for program in programs {
            if let location = find(program.name, in: path) { found[program.name] = location } else { missing.append(program.name) }
        }
        missing += drivers.filter { !hasDriver(module: $0.module) }.map(\.name)
        guard missing.isEmpty, let libvirtd = found["libvirtd"], let virtlogd = found["virtlogd"],
              let unshare = found["unshare"], let nsenter = found["nsenter"] else {
            throw missingError(missing)
        }
        return LabTools(libvirtd: libvirtd, virtlogd: virtlogd, unshare: unshare, nsenter: nsenter)
    }

    /// The privileged QEMU driver looks up its default user before it reads `user = "root"` from
    /// qemu.conf, and refuses to start without it ("Failed to parse user 'libvirt-qemu'").
    /// Debian's libvirt-daemon-system creates it; a lab without that package creates it here.
    static func ensureQemuUser(logger: (String) -> Void) async throws {
        guard getpwnam("libvirt-qemu") == nil else { return }
        guard let useradd = find("useradd", in: searchPath()) else {
            throw LabError.cannotPrepare(host: "lab", detail: "the user libvirt-qemu is missing and useradd is not installed (apt-get install passwd)")
        }
        logger("creating the system user libvirt-qemu, which libvirtd's QEMU driver requires")
        let status = try await LabSpawn.run(useradd, ["--system", "--user-group", "--no-create-home",
                                                      "--home-dir", "/var/lib/libvirt", "--shell", "/usr/sbin/nologin", "libvirt-qemu"])
        guard status.code == 0 || getpwnam("libvirt-qemu") != nil else {
            throw LabError.cannotPrepare(host: "lab", detail: "useradd libvirt-qemu failed: \(status.output)")
        }
    }

    /// The mount points the namespace script binds over must exist. These are libvirt's own
    /// directories (its package would create them); `/run/libvirt` is not among them: the
    /// script mounts a private /run instead, so the machine's /run/libvirt is never touched.
    static let mountPoints = ["/var/lib/libvirt", "/var/log/libvirt", "/var/cache/libvirt", "/etc/libvirt"]

    static func ensureMountPoints() throws {
        for path in mountPoints where !FileManager.default.fileExists(atPath: path) {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            } catch {
                throw LabError.cannotPrepare(host: "lab", detail: "could not create the mount point \(path): \(error)")
            }
        }
    }
}
