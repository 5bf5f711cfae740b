import DrovePlan
import Foundation

/// Makes a VM's cloud-init NoCloud seed: an ISO 9660 image labelled `cidata` holding
/// `meta-data`, `user-data` and, if given, `network-config`, written by xorriso (Debian's
/// `xorriso`, on libisofs) with Joliet and Rock Ridge names, as cloud-init's own tools do.
enum SeedImage {
    static let tool = "/usr/bin/xorriso"

    /// Writes the image into a fresh temporary directory and returns its path; the caller
    /// removes `directory` when done with it.
    static func make(_ seed: Seed, for vm: String) throws -> (image: URL, directory: URL) {
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
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = ["-as", "mkisofs", "-quiet", "-V", "cidata", "-J", "-r", "-o", image.path, files.path]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let message = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw SeedError(vm: vm, cause: "xorriso exited with status \(process.terminationStatus): "
                    + String(decoding: message.suffix(400), as: UTF8.self))
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
