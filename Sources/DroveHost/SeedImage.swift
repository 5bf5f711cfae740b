import DrovePlan
import Foundation

/// Makes a VM's cloud-init NoCloud seed: an ISO 9660 image labelled `cidata` holding
/// `meta-data`, `user-data` and, if given, `network-config`, written by xorriso (Debian's
/// `xorriso`, on libisofs) with Joliet and Rock Ridge names, as cloud-init's own tools do.
enum SeedImage {
    static let tool = "/usr/bin/xorriso"

    /// Writes the image into a fresh temporary directory and returns its path; the caller
    /// removes `directory` when done with it. xorriso is awaited, not waited for: no thread of
    /// Swift's cooperative pool blocks on it.
    static func make(_ seed: Seed, for vm: String) async throws -> (image: URL, directory: URL) {
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw SeedError(vm: vm, cause: "\(tool) is missing; install Debian's xorriso package to make cloud-init seeds")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drove-seed-\(UUID().uuidString)")
        let files = directory.appendingPathComponent("cidata")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            try Data(seed.metaData.utf8).write(to: files.appendingPathComponent("meta-data"))
            try Data(seed.userData.utf8).write(to: files.appendingPathComponent("user-data"))
            if let networkConfig = seed.networkConfig {
                try Data(networkConfig.utf8).write(to: files.appendingPathComponent("network-config"))
            }
            let image = directory.appendingPathComponent("seed.iso")
            let errors = directory.appendingPathComponent("xorriso.err")
            FileManager.default.createFile(atPath: errors.path, contents: nil)
            let errorHandle = try FileHandle(forWritingTo: errors)
            defer { try? errorHandle.close() }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = ["-as", "mkisofs", "-quiet", "-V", "cidata", "-J", "-r", "-o", image.path, files.path]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errorHandle
            let status: Int32 = try await withCheckedThrowingContinuation { continuation in
                process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                do { try process.run() } catch {
                    process.terminationHandler = nil
                    continuation.resume(throwing: error)
                }
            }
            guard status == 0 else {
                let message = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
                throw SeedError(vm: vm, cause: "xorriso exited with status \(status): \(message.suffix(400))")
            }
            return (image, directory)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }
}

struct SeedError: Error, CustomStringConvertible {
    var vm: String
    var cause: String
    var description: String { "cannot make the cloud-init seed of \(vm): \(cause)" }
}
