import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Manifest files as read from paths, not yet parsed: what the loader checks, and what a client
/// sends to the API after checking it. Every file is read within `ManifestLimits.maxFileSize`.
public struct ManifestFiles: Sendable {
    /// One file, or one path that yielded none, in the order the paths were given.
    public enum Entry: Sendable {
        case read(ManifestSource)
        /// A path or file that could not be read whole (`unreadable` or `tooLarge`).
        case failed(Diagnostic)
    }

    public var entries: [Entry]

    /// Files read elsewhere (an HTTP body, a test).
    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// Reads files (whatever their extension), directories (every `*.yaml` and `*.yml` below
    /// them, hidden ones skipped, sorted by relative path) and `-` for standard input (once).
    /// Relative paths, and standard input's templates, resolve against `workingDirectory`.
    public static func read(_ paths: [String], workingDirectory: String = FileManager.default.currentDirectoryPath) -> ManifestFiles {
        var entries: [Entry] = []
        var standardInputRead = false
        for path in paths {
            if path == "-" {
                let name = ManifestLoader.standardInputName
                if standardInputRead {
                    entries.append(.failed(.file(name, .unreadable, "standard input is named twice")))
                    continue
                }
                standardInputRead = true
                switch FileReading.readBounded(FileHandle.standardInput, limit: ManifestLimits.maxFileSize) {
                case let .success(bytes):
                    entries.append(.read(ManifestSource(name: name, bytes: bytes, baseDirectory: workingDirectory)))
                case let .failure(problem):
                    entries.append(.failed(.file(name, problem.code, problem.message)))
                }
                continue
            }
            let absolute = FileReading.absolute(path, against: workingDirectory)
            switch FileReading.expand(path, absolute: absolute) {
            case let .failure(problem):
                entries.append(.failed(.file(path, problem.code, problem.message)))
            case let .success(files):
                for file in files {
                    switch FileReading.read(file.absolute, limit: ManifestLimits.maxFileSize) {
                    case let .success(bytes):
                        let base = (file.absolute as NSString).deletingLastPathComponent
                        entries.append(.read(ManifestSource(name: file.display, bytes: bytes, baseDirectory: base)))
                    case let .failure(problem):
                        entries.append(.failed(.file(file.display, problem.code, problem.message)))
                    }
                }
            }
        }
        return ManifestFiles(entries: entries)
    }

    /// The files read, in order.
    public var sources: [ManifestSource] {
        entries.compactMap { if case let .read(source) = $0 { source } else { nil } }
    }

    /// Why paths or files could not be read, in order.
    public var diagnostics: [Diagnostic] {
        entries.compactMap { if case let .failed(diagnostic) = $0 { diagnostic } else { nil } }
    }
}

/// Finding manifest files and reading them within the size limit.
enum FileReading {
    struct Problem: Error {
        var code: DiagnosticCode
        var message: String
    }

    struct File {
        /// The name diagnostics use: the path as given, joined with the path below a directory.
        var display: String
        var absolute: String
    }

    static func absolute(_ path: String, against directory: String) -> String {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: directory, isDirectory: true))
        return url.standardizedFileURL.path
    }

    /// A file stands for itself, whatever its extension; a directory for every `*.yaml` and
    /// `*.yml` below it, hidden files and directories skipped, sorted by relative path.
    static func expand(_ path: String, absolute: String) -> Result<[File], Problem> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else {
            return .failure(Problem(code: .unreadable, message: "no such file or directory"))
        }
        guard isDirectory.boolValue else { return .success([File(display: path, absolute: absolute)]) }

        let root = URL(fileURLWithPath: absolute, isDirectory: true)
        guard let enumerator = FileManager.default.enumerator(
            at: root, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else {
            return .failure(Problem(code: .unreadable, message: "cannot list directory"))
        }
        var relatives: [String] = []
        for case let url as URL in enumerator {
            let name = url.lastPathComponent
            guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { continue }
            // Symbolic links to files count; links to directories are not followed (no cycles).
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else { continue }
            let full = url.standardizedFileURL.path
            let prefix = root.standardizedFileURL.path
            guard full.hasPrefix(prefix) else { continue }
            relatives.append(String(full.dropFirst(prefix.count).drop { $0 == "/" }))
        }
        if relatives.isEmpty {
            return .failure(Problem(code: .unreadable, message: "no .yaml or .yml files in this directory"))
        }
        let display = path.hasSuffix("/") ? String(path.dropLast()) : path
        return .success(relatives.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map {
            File(display: display.isEmpty ? $0 : "\(display)/\($0)", absolute: "\(absolute)/\($0)")
        })
    }

    /// The file's bytes; its size is checked before anything is read.
    static func read(_ path: String, limit: Int) -> Result<[UInt8], Problem> {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return .failure(Problem(code: .unreadable, message: "cannot read: \(String(cString: strerror(errno)))"))
        }
        if (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) > limit {
            return .failure(Problem(code: .tooLarge, message: tooLarge(Int(info.st_size))))
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return .failure(Problem(code: .unreadable, message: "cannot open for reading"))
        }
        defer { try? handle.close() }
        return readBounded(handle, limit: limit)
    }

    /// At most `limit` bytes, and an error rather than a truncated read if there are more (a
    /// pipe has no size to check beforehand).
    static func readBounded(_ handle: FileHandle, limit: Int) -> Result<[UInt8], Problem> {
        var bytes: [UInt8] = []
        do {
            while let chunk = try handle.read(upToCount: 64 << 10), !chunk.isEmpty {
                bytes += chunk
                if bytes.count > limit { return .failure(Problem(code: .tooLarge, message: tooLarge(nil))) }
            }
        } catch {
            return .failure(Problem(code: .unreadable, message: "cannot read: \(error.localizedDescription)"))
        }
        return .success(bytes)
    }

    static func tooLarge(_ size: Int?) -> String {
        let limit = "\(ManifestLimits.maxFileSize >> 20) MiB"
        guard let size else { return "input is larger than the \(limit) limit for one manifest file; refusing it" }
        let mib = (Double(size) / Double(1 << 20) * 10).rounded() / 10
        return "file is \(mib) MiB, over the \(limit) limit for one manifest file; refusing it"
    }

    /// Where the first byte that is not UTF-8 sits, as libyaml would count it.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Position {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var line = 1, column = 1
        while true {
            switch decoder.decode(&iterator) {
            case let .scalarValue(scalar):
                if scalar == "\n" { line += 1; column = 1 } else { column += 1 }
            case .emptyInput, .error:
                return Position(line: line, column: column)
            }
        }
    }
}
