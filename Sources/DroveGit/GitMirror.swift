import DroveManifest
import Foundation

/// One source's bare repository in Drove's data directory, made once and fetched into on every
/// sync (never cloned afresh). It has no working tree: revisions are read from its objects
/// (see `RevisionReader`), so no checkout, filter, smudge or hook ever runs.
///
/// What a fetch got is kept under `refs/drove/fetched`; old commits stay (automatic gc is off),
/// so whether a new head descends from the revision applied before can be told after a
/// force-push too.
public struct GitMirror: Sendable {
    /// The bare repository.
    public let directory: String
    let git: GitRunner

    static let fetchedRef = "refs/drove/fetched"

    public init(directory: String, git: GitRunner) {
        self.directory = directory
        self.git = git
    }

    /// What looking at the remote found.
    public enum Head: Sendable, Hashable {
        /// The ref's commit, fetched.
        case commit(String)
        /// The branch or tag is not in the repository (deleted, or never pushed).
        case refNotFound
    }

    /// Makes the bare repository if it is not there yet (no template: no sample hooks).
    public func prepare() async throws(GitError) {
        if FileManager.default.fileExists(atPath: directory + "/HEAD") { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw GitError(.notStarted, operation: "git init \(directory)", message: "\(error.localizedDescription)")
        }
        _ = try await git.run(["init", "--bare", "--quiet", "--template=", "--", directory], in: nil, operation: "git init \(directory)")
    }

    /// Asks the remote where `ref` is (`git ls-remote`) and fetches that commit unless it is
    /// here already. A commit ref names itself, and is fetched by id when missing.
    public func update(from url: GitURL, ref: GitReference, credentials: GitCredentialEnvironment?) async throws(GitError) -> Head {
        guard let refName = ref.refName else {
            guard case let .commit(id) = ref else { preconditionFailure("only commits have no ref name") }
            if try await hasCommit(id) { return .commit(id) }
            try await fetch(from: url, refspec: id, credentials: credentials)
            guard try await hasCommit(id) else {
                throw GitError(.unexpectedOutput, operation: "git fetch \(id) from \(url.text)", message: "the fetch did not bring commit \(id)")
            }
            return .commit(id)
        }
        let listing = try await git.run(["ls-remote", "--", url.argument, refName], in: directory,
                                        operation: "git ls-remote \(url.text) \(refName)", transport: url.transport, credentials: credentials)
        guard let remote = Self.commit(of: refName, in: listing) else { return .refNotFound }
        let local = try await resolve(Self.fetchedRef)
        if local != remote {
            try await fetch(from: url, refspec: "+\(refName):\(Self.fetchedRef)", credentials: credentials)
        }
        guard let fetched = try await resolve(Self.fetchedRef) else {
            throw GitError(.unexpectedOutput, operation: "git fetch \(refName) from \(url.text)", message: "\(Self.fetchedRef) is missing after the fetch")
        }
        return .commit(fetched)
    }

    private func fetch(from url: GitURL, refspec: String, credentials: GitCredentialEnvironment?) async throws(GitError) {
        _ = try await git.run(
            ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules", "--", url.argument, refspec],
            in: directory, operation: "git fetch from \(url.text)", transport: url.transport, credentials: credentials)
    }

    /// The commit `ls-remote` output gives for exactly `refName`; for an annotated tag, the
    /// commit it points at (its `^{}` line).
    static func commit(of refName: String, in listing: Data) -> String? {
        var direct: String?, peeled: String?
        for line in String(decoding: listing, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 1)
            guard fields.count == 2 else { continue }
            if fields[1] == refName { direct = String(fields[0]) }
            if fields[1] == refName + "^{}" { peeled = String(fields[0]) }
        }
        return peeled ?? direct
    }

    /// The commit a ref or revision names here, or nil if there is none.
    public func resolve(_ revision: String) async throws(GitError) -> String? {
        do {
            let output = try await git.run(["rev-parse", "--verify", "--quiet", "--end-of-options", revision + "^{commit}"],
                                           in: directory, operation: "git rev-parse \(revision)")
            return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch where error.kind == .exited(1) {
            return nil
        }
    }

    public func hasCommit(_ id: String) async throws(GitError) -> Bool {
        try await resolve(id) == id
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors; false also when `ancestor`
    /// is not in this repository at all (its history is gone).
    public func isAncestor(_ ancestor: String, of descendant: String) async throws(GitError) -> Bool {
        guard try await hasCommit(ancestor) else { return false }
        do {
            _ = try await git.run(["merge-base", "--is-ancestor", ancestor, descendant], in: directory,
                                  operation: "git merge-base \(ancestor) \(descendant)")
            return true
        } catch where error.kind == .exited(1) {
            return false
        }
    }

    /// When `commit` was committed (its committer time).
    public func commitTime(_ commit: String) async throws(GitError) -> Date {
        let output = try await git.run(["cat-file", "commit", commit], in: directory, operation: "git cat-file commit \(commit)")
        // The header ends at the first empty line; "committer NAME <EMAIL> SECONDS ZONE".
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            guard line.hasPrefix("committer ") else { continue }
            let fields = line.split(separator: " ")
            if fields.count >= 2, let seconds = TimeInterval(fields[fields.count - 2]) { return Date(timeIntervalSince1970: seconds) }
        }
        throw GitError(.unexpectedOutput, operation: "git cat-file commit \(commit)", message: "no committer time")
    }
}
