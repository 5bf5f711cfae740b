import DroveManifest
import Foundation

/// The hostile manifest corpus (`Tests/DroveManifestTests/Hostile/`): one `.yaml` file per
/// case, and `cases.json` naming, for each, the diagnostic it must be refused with. Cases too
/// large to keep in the repository are generated from their description in the index.
///
/// The loader's suite (DroveManifestTests) and the API's (DroveServerTests) both read it here.
public struct HostileCase: Sendable, Decodable, CustomStringConvertible {
    /// The case's file name without `.yaml`; also the name its diagnostics carry.
    public var name: String
    /// What is hostile about it, for people.
    public var what: String
    /// The code and position of the diagnostic that must refuse it.
    public var code: String
    public var line: Int
    public var column: Int
    /// For a generated case: its text is `prefix`, `repeat` written `count` times, `suffix`.
    public var generate: Generated?

    public struct Generated: Sendable, Decodable {
        public var prefix: String
        public var `repeat`: String
        public var count: Int
        public var suffix: String
    }

    public var description: String { name }

    /// The name diagnostics give the case's source.
    public var fileName: String { name + ".yaml" }

    /// The expected `file:line:column`.
    public var position: String { "\(fileName):\(line):\(column)" }

    /// The case's bytes: the file's, or generated.
    public func bytes() throws -> [UInt8] {
        if let generate {
            var bytes = Array(generate.prefix.utf8)
            let unit = Array(generate.repeat.utf8)
            bytes.reserveCapacity(bytes.count + unit.count * generate.count + generate.suffix.utf8.count)
            for _ in 0..<generate.count { bytes += unit }
            return bytes + Array(generate.suffix.utf8)
        }
        return Array(try Data(contentsOf: HostileCorpus.directory.appendingPathComponent(fileName)))
    }
}

public enum HostileCorpus {
    /// `Tests/DroveManifestTests/Hostile`, found from this file.
    public static let directory: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("DroveManifestTests/Hostile", isDirectory: true)

    /// Every case of the index, in its order. A broken index is a test failure, not an empty corpus.
    public static func cases() throws -> [HostileCase] {
        let data = try Data(contentsOf: directory.appendingPathComponent("cases.json"))
        return try JSONDecoder().decode([HostileCase].self, from: data)
    }

    /// The `.yaml` files in the corpus directory, without extension: each must have an entry.
    public static func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// What `drove serve` allows by default (ServeCommand): no template files, no local git
    /// repositories, no credential files, no test driver or plain TCP, and a template store.
    public static let servePolicy = ManifestPolicy(templateFiles: .nowhere, localRepositories: .nowhere,
                                                   templateStore: "/var/lib/drove/templates")

    /// Where the cases say their relative paths resolve.
    public static let baseDirectory = "/srv/manifests"
}
