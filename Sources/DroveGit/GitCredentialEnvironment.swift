import DroveManifest
import Foundation

/// A private repository's credentials as git gets them: configuration entries in its
/// environment (`GIT_CONFIG_COUNT`, `GIT_CONFIG_KEY_n`, `GIT_CONFIG_VALUE_n`), which only this
/// process's user can read, never in its arguments, which every user can. It never prints its
/// contents: its description names the file they came from.
public struct GitCredentialEnvironment: Sendable, CustomStringConvertible {
    let variables: [String: String]
    /// The file the secret was read from.
    public let file: String

    public var description: String { "credentials from \(file)" }

    /// Reads `credentials` for `url`: for `https://` (and `http://`) a token, sent as the
    /// password of `credentials.username` in an `Authorization` header; for `ssh://` a private
    /// key and a known_hosts file, used by an ssh that reads no other configuration, agent or
    /// key and checks the server's key strictly.
    ///
    /// Every file is checked against `policy.credentialFiles` again here (with symbolic links
    /// resolved: one may have changed since the manifest was applied).
    ///
    /// - Throws: `GitError` of kind `.credentials` for a file that is not allowed, cannot be
    ///   read, is empty, or (a token) is not one line of printable ASCII.
    public static func load(_ credentials: GitCredentials, for url: GitURL, policy: ManifestPolicy) throws(GitError) -> GitCredentialEnvironment {
        let operation = "reading the credentials for \(url.text)"
        for path in [credentials.path, credentials.knownHosts].compactMap({ $0 }) {
            guard ManifestPolicy.allows(policy.credentialFiles, path: path) else {
                throw GitError(.credentials, operation: operation, message: "\(path) is not below the credentials directory (\(policy.credentialFiles))")
            }
        }
        switch url.transport {
        case .https, .http:
            let token = try readToken(credentials.path, operation: operation)
            let basic = Data("\(credentials.username):\(token)".utf8).base64EncodedString()
            return GitCredentialEnvironment(variables: entries([("http.extraHeader", "Authorization: Basic \(basic)")]), file: credentials.path)
        case .ssh:
            guard let knownHosts = credentials.knownHosts else {
                throw GitError(.credentials, operation: operation, message: "ssh needs a known_hosts file (secretRef.knownHosts)")
            }
            for path in [credentials.path, knownHosts] where !FileManager.default.isReadableFile(atPath: path) {
                throw GitError(.credentials, operation: operation, message: "cannot read \(path)")
            }
            // git runs core.sshCommand through the shell; both paths passed the manifest's clean
            // path rule (letters, digits, '-', '.', '_', '~'), so nothing in them is special to it.
            let command = ["ssh", "-F", "/dev/null", "-i", credentials.path, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                           "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts)",
                           "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ProxyCommand=none", "-o", "PermitLocalCommand=no"]
            return GitCredentialEnvironment(variables: entries([("core.sshCommand", command.joined(separator: " "))])
                                                .merging(["GIT_SSH_VARIANT": "ssh"]) { _, new in new }, file: credentials.path)
        case .file:
            throw GitError(.credentials, operation: operation, message: "a repository on this machine needs no credentials")
        }
    }

    private static func entries(_ settings: [(key: String, value: String)]) -> [String: String] {
        var variables = ["GIT_CONFIG_COUNT": String(settings.count)]
        for (index, setting) in settings.enumerated() {
            variables["GIT_CONFIG_KEY_\(index)"] = setting.key
            variables["GIT_CONFIG_VALUE_\(index)"] = setting.value
        }
        return variables
    }

    /// One line of printable ASCII, surrounding whitespace ignored.
    private static func readToken(_ path: String, operation: String) throws(GitError) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw GitError(.credentials, operation: operation, message: "cannot read \(path)")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: 64 << 10)) ?? nil
        let token = String(decoding: data ?? Data(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw GitError(.credentials, operation: operation, message: "\(path) is empty") }
        guard token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw GitError(.credentials, operation: operation, message: "\(path) must hold one token of printable ASCII without spaces")
        }
        return token
    }
}
