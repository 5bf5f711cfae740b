import DroveManifest
import Foundation

/// The manifests of one revision, read from a mirror's objects (`git ls-tree`, `git cat-file`)
/// without a checkout, chosen as `drove validate -f PATH` chooses files on disk: `path` itself
/// when it is a file; when it is a directory, every `*.yaml` and `*.yml` below it, hidden files
/// and directories skipped, in sorted path order. Each file is named by its path in the
/// repository, so diagnostics read `manifests/web.yaml:7:13: …`.
public struct RevisionReader: Sendable {
    let mirror: GitMirror
    /// Where relative paths in the manifests resolve: a directory that has no checkout, so a
    /// template path relative to a repository file names nothing on this machine.
    let baseDirectory: String

    /// More than this in all files of a revision is refused.
    public static let maxTotalBytes = 64 << 20

    public init(mirror: GitMirror, baseDirectory: String) {
        self.mirror = mirror
        self.baseDirectory = baseDirectory
    }

    public enum Contents: Sendable {
        /// The files (and those that could not be read, as diagnostics), possibly none.
        case files(ManifestFiles)
        /// `path` is not in the revision.
        case pathNotFound
    }

    private struct Entry {
        var mode: String
        var type: String
        var object: String
        var size: Int?
        var path: String
    }

    public func read(_ revision: String, path: String) async throws(GitError) -> Contents {
        let git = mirror.git, directory = mirror.directory
        let spec = path.isEmpty ? "\(revision)^{tree}" : "\(revision):\(path)"
        let object: String
        do {
            object = try await git.run(["rev-parse", "--verify", "--quiet", "--end-of-options", spec], in: directory,
                                       operation: "git rev-parse \(spec)").trimmed
        } catch where error.kind == .exited(1) {
            return .pathNotFound // rev-parse --quiet: exit 1, and nothing said, for a path that is not there
        }
        let type = try await git.run(["cat-file", "-t", object], in: directory, operation: "git cat-file -t \(spec)").trimmed

        var entries: [Entry]
        switch type {
        case "tree":
            let listing = try await git.run(["ls-tree", "-r", "-z", "-l", "--full-tree", object], in: directory,
                                            operation: "git ls-tree \(spec)", outputLimit: 16 << 20)
            entries = try Self.parse(listing, operation: "git ls-tree \(spec)").map { entry in
                var entry = entry
                entry.path = path.isEmpty ? entry.path : "\(path)/\(entry.path)"
                return entry
            }
            entries = entries.filter { entry in
                let name = entry.path.split(separator: "/").last ?? ""
                let relative = path.isEmpty ? entry.path : String(entry.path.dropFirst(path.count + 1))
                return (name.hasSuffix(".yaml") || name.hasSuffix(".yml")) && !relative.split(separator: "/").contains { $0.hasPrefix(".") }
            }
        case "blob":
            let size = Int(try await git.run(["cat-file", "-s", object], in: directory, operation: "git cat-file -s \(spec)").trimmed)
            entries = [Entry(mode: "100644", type: "blob", object: object, size: size, path: path)]
        default:
            return .pathNotFound
        }
        entries.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }

        var result: [ManifestFiles.Entry?] = Array(repeating: nil, count: entries.count)
        var wanted: [Int] = []
        var total = 0
        for (index, entry) in entries.enumerated() {
            if entry.mode == "120000" {
                result[index] = .failed(Self.problem(entry.path, .unreadable, "is a symbolic link; Drove reads only regular files from a repository"))
            } else if entry.type != "blob" {
                continue // a submodule: never fetched, never read
            } else if let size = entry.size, size > ManifestLimits.maxFileSize {
                let mib = (Double(size) / Double(1 << 20) * 10).rounded() / 10
                result[index] = .failed(Self.problem(entry.path, .tooLarge,
                                                     "file is \(mib) MiB, over the \(ManifestLimits.maxFileSize >> 20) MiB limit for one manifest file; refusing it"))
            } else {
                total += entry.size ?? 0
                wanted.append(index)
            }
        }
        if total > Self.maxTotalBytes {
            throw GitError(.outputTooLarge, operation: "reading \(spec)", message: "its manifests hold \(total) bytes, over the \(Self.maxTotalBytes >> 20) MiB limit")
        }
        let blobs = try await readBlobs(wanted.map { entries[$0].object }, operation: "git cat-file --batch (\(spec))", expected: total)
        for (index, bytes) in zip(wanted, blobs) {
            let file = entries[index].path
            let parent = (file as NSString).deletingLastPathComponent
            result[index] = .read(ManifestSource(name: file, bytes: bytes,
                                                 baseDirectory: parent.isEmpty ? baseDirectory : "\(baseDirectory)/\(parent)"))
        }
        return .files(ManifestFiles(entries: result.compactMap { $0 }))
    }

    /// The blobs' bytes, in order, from one `git cat-file --batch`.
    private func readBlobs(_ objects: [String], operation: String, expected: Int) async throws(GitError) -> [[UInt8]] {
        guard !objects.isEmpty else { return [] }
        let input = Data(objects.map { $0 + "\n" }.joined().utf8)
        let output = try await mirror.git.run(["cat-file", "--batch"], in: mirror.directory, operation: operation, input: input,
                                              outputLimit: expected + objects.count * 128 + 1024)
        let bytes = [UInt8](output)
        var blobs: [[UInt8]] = []
        var position = 0
        for object in objects {
            // "<object> blob <size>\n<bytes>\n"
            guard let newline = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            let header = String(decoding: bytes[position..<newline], as: UTF8.self).split(separator: " ")
            guard header.count == 3, header[0] == object, header[1] == "blob", let size = Int(header[2]),
                  newline + 1 + size < bytes.count else {
                throw GitError(.unexpectedOutput, operation: operation, message: "unexpected header \(header.joined(separator: " ")) for \(object)")
            }
            blobs.append(Array(bytes[(newline + 1)..<(newline + 1 + size)]))
            position = newline + 1 + size + 1
        }
        guard blobs.count == objects.count else {
            throw GitError(.unexpectedOutput, operation: operation, message: "\(blobs.count) of \(objects.count) objects read")
        }
        return blobs
    }

    /// `ls-tree -r -z -l` entries: `<mode> <type> <object> <size>\t<path>\0`.
    private static func parse(_ listing: Data, operation: String) throws(GitError) -> [Entry] {
        var entries: [Entry] = []
        for record in listing.split(separator: 0) {
            guard let tab = record.firstIndex(of: UInt8(ascii: "\t")) else {
                throw GitError(.unexpectedOutput, operation: operation, message: "a line without a tab")
            }
            let fields = String(decoding: record[record.startIndex..<tab], as: UTF8.self).split(separator: " ")
            guard fields.count == 4 else { throw GitError(.unexpectedOutput, operation: operation, message: "a line without 4 fields") }
            let path = String(decoding: record[(tab + 1)...], as: UTF8.self)
            entries.append(Entry(mode: String(fields[0]), type: String(fields[1]), object: String(fields[2]), size: Int(fields[3]), path: path))
        }
        return entries
    }

    private static func problem(_ file: String, _ code: DiagnosticCode, _ message: String) -> Diagnostic {
        Diagnostic(location: SourceLocation(file: file, line: 1, column: 1), subject: "<unknown kind>", path: "", code: code, message: message)
    }
}

private extension Data {
    var trimmed: String { String(decoding: self, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
}
