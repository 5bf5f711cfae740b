import Foundation

/// An exclusive lock on `drove serve`'s data directory (`flock` on DIR/serve.lock), held for
/// the life of the process and let go by the kernel when it dies, however it dies.
///
/// It keeps two servers off one directory (its templates, git mirrors and SQLite store), and
/// makes the default replica identity (host name and directory) name one live process only: a
/// replica restarted after a crash may take its own lease back at once, since the process that
/// held it is gone.
struct DataDirectoryLock {
    let path: String
    private let descriptor: Int32

    enum Failure: Error, CustomStringConvertible {
        case held(path: String, by: String)
        case cannotOpen(path: String, errno: Int32)

        var description: String {
            switch self {
            case let .held(path, holder):
                "another drove serve (\(holder)) uses this data directory: \(path) is locked; give each replica a --data-dir of its own"
            case let .cannotOpen(path, code):
                "cannot open \(path): \(String(cString: strerror(code)))"
            }
        }
    }

    init(directory: String) throws(Failure) {
        path = (directory as NSString).appendingPathComponent("serve.lock")
        descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw .held(path: path, by: holder.map { "pid \($0)" } ?? "a process")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    func release() {
        close(descriptor)
    }

    /// The host name and a short digest (FNV-1a) of the directory's absolute path.
    static func identity(dataDirectory: String) -> String {
        let absolute = URL(fileURLWithPath: dataDirectory).standardizedFileURL.resolvingSymlinksInPath().path
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in absolute.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "drove"
        return "\(host)-\(String(hash, radix: 16).prefix(8))"
    }
}
