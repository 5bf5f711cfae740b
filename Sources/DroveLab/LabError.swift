/// Why a lab operation failed; each message names the host and says what to do.
public enum LabError: Error, Sendable, CustomStringConvertible, Equatable {
    case notRoot
    /// Programs that are not installed, and the Debian packages that bring them.
    case missingPrerequisites(missing: [String], packages: [String])
    case invalidHostCount(Int)
    case directoryTooLong(String)
    case cannotPrepare(host: String, detail: String)
    case startFailed(host: String, detail: String, log: String)
    case notAnswering(host: String, uri: String, detail: String, log: String)
    case couldNotStop(program: LabProgram, pid: Int32)
    case teardownFailed(host: String, detail: String)
    /// Several hosts failed at once; one error per host.
    case hosts([LabError])

    public var description: String {
        switch self {
        case .notRoot:
            return "drove lab must run as root: it mounts directories in new mount namespaces and starts libvirtd"
        case .missingPrerequisites(let missing, let packages):
            return "drove lab needs \(missing.joined(separator: ", ")), which \(missing.count == 1 ? "is" : "are") not installed. "
                + "Install them with: apt-get install \(packages.joined(separator: " "))"
        case .invalidHostCount(let count):
            return "a lab has 1 to \(LabConfig.maxHosts) hosts, not \(count)"
        case .directoryTooLong(let path):
            return "the lab directory \(path) is too long: its hosts' socket paths would exceed the 107 bytes a unix socket allows"
        case .cannotPrepare(let host, let detail):
            return "\(host): could not prepare its directory: \(detail)"
        case .startFailed(let host, let detail, let log):
            return "\(host): could not start its daemons: \(detail)" + Self.logSection(log)
        case .notAnswering(let host, let uri, let detail, let log):
            return "\(host): libvirtd at \(uri) did not answer: \(detail)" + Self.logSection(log)
        case .couldNotStop(let program, let pid):
            return "\(program.rawValue) (pid \(pid)) did not exit after SIGKILL"
        case .teardownFailed(let host, let detail):
            return "\(host): could not tear it down: \(detail)"
        case .hosts(let errors):
            return errors.map(\.description).joined(separator: "\n")
        }
    }

    private static func logSection(_ log: String) -> String {
        log.isEmpty ? "" : "\n--- last lines of its logs ---\n" + log
    }
}
