extension ObjectDecoder {
    func decodeGitSourceSpec(_ spec: Fields) -> GitSourceSpec? {
        let problemsBefore = reader.diagnostics.count
        let url = reader.nonEmptyString(spec, "url", required: true)
        var transport: GitURL.Transport?
        if let url {
            switch GitURL.check(url, policy: policy) {
            case let .success(checked): transport = checked.transport
            case let .failure(refusal): reader.report(spec["url"]!, spec.path.appending("url"), .refusedByPolicy, "\(quoted(url)) \(refusal.message)")
            }
        }
        let ref = decodeReference(spec)
        var path = ""
        if let written = reader.string(spec, "path") {
            if let normalized = GitNames.normalizedPath(written) {
                path = normalized
            } else {
                reader.report(spec["path"]!, spec.path.appending("path"), .invalidValue,
                              "\(quoted(written)) must be a path inside the repository: relative, without '..' or '.git' components, "
                                  + "no component starting with '-', letters, digits, ' ', '.', '_' and '-'")
            }
        }
        let interval = reader.duration(spec, "interval", in: ManifestLimits.gitInterval)
        let prune = reader.bool(spec, "prune")
        let suspend = reader.bool(spec, "suspend")
        let allowEmpty = reader.bool(spec, "allowEmpty")
        let secretRef = decodeCredentials(spec, transport: transport)
        let webhookSecret = reader.section(spec, "webhookSecretRef", allowed: FieldNames.gitWebhookSecret)
            .flatMap { credentialFile($0, "path", required: true) }

        guard reader.diagnostics.count == problemsBefore, let url else { return nil }
        return GitSourceSpec(
            url: url, ref: ref ?? .branch("main"), path: path, interval: .seconds(interval ?? 60), prune: prune ?? false,
            suspend: suspend ?? false, allowEmpty: allowEmpty ?? false, secretRef: secretRef, webhookSecretRef: webhookSecret)
    }

    /// `ref`: exactly one of `branch`, `tag` and `commit`; nil when absent (the default) or wrong
    /// (reported).
    private func decodeReference(_ spec: Fields) -> GitReference? {
        guard let fields = reader.section(spec, "ref", allowed: FieldNames.gitReference) else { return nil }
        let given = FieldNames.gitReference.filter { fields[$0] != nil }
        guard given.count == 1 else {
            if given.isEmpty {
                reader.report(fields.node, fields.path, .missingField, "name one of branch, tag or commit")
            } else {
                reader.report(fields.node, fields.path, .invalidValue, "name only one of branch, tag or commit (got \(given.joined(separator: " and ")))")
            }
            return nil
        }
        let key = given[0]
        guard let value = reader.nonEmptyString(fields, key) else { return nil }
        if key == "commit" {
            guard GitNames.isCommitID(value) else {
                reader.report(fields[key]!, fields.path.appending(key), .invalidValue,
                              "\(quoted(value)) is not a full commit id (40, or 64, lowercase hexadecimal digits)")
                return nil
            }
            return .commit(value)
        }
        guard GitNames.isRefName(value) else {
            reader.report(fields[key]!, fields.path.appending(key), .invalidName,
                          "\(quoted(value)) is not a \(key) name Drove accepts: letters, digits, '.', '_', '-' and '/', "
                              + "no component starting with '.' or '-', no '..', not ending in .lock")
            return nil
        }
        return key == "branch" ? .branch(value) : .tag(value)
    }

    /// `secretRef`: what this URL's transport needs, and nothing else.
    private func decodeCredentials(_ spec: Fields, transport: GitURL.Transport?) -> GitCredentials? {
        let node = spec["secretRef"]
        if transport == .ssh, node == nil {
            reader.report(spec.node, spec.path.appending("secretRef"), .missingField,
                          "required for ssh:// URLs: a private key and a known_hosts file below --credentials-dir")
            return nil
        }
        guard let fields = reader.section(spec, "secretRef", allowed: FieldNames.gitCredentials) else { return nil }
        if transport == .file {
            reader.report(node!, fields.path, .invalidValue, "a repository on the controller's machine needs no credentials")
            return nil
        }
        let path = credentialFile(fields, "path", required: true)
        var credentials = GitCredentials(path: path ?? "")
        if let node = fields["username"] {
            if transport == .ssh {
                reader.report(node, fields.path.appending("username"), .invalidValue, "not used with ssh:// URLs (write the user in the URL: ssh://user@host/path)")
            } else if let username = reader.nonEmptyString(fields, "username") {
                if username.utf8.count <= 64, !username.contains(":"), username.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) {
                    credentials.username = username
                } else {
                    reader.report(node, fields.path.appending("username"), .invalidValue,
                                  "\(quoted(username)) must be at most 64 printable ASCII characters, without ':' or spaces")
                }
            }
        }
        if transport == .ssh {
            credentials.knownHosts = credentialFile(fields, "knownHosts", required: true)
        } else if let node = fields["knownHosts"] {
            reader.report(node, fields.path.appending("knownHosts"), .invalidValue, "only for ssh:// URLs")
        }
        return path == nil ? nil : credentials
    }

    /// A file the controller reads secrets from: absolute and below `--credentials-dir`. Its
    /// contents are never shown anywhere.
    private func credentialFile(_ fields: Fields, _ key: String, required: Bool = false) -> String? {
        guard let path = reader.nonEmptyString(fields, key, required: required) else { return nil }
        let node = fields[key]!
        guard HostURI.isCleanAbsolutePath(path) else {
            reader.report(node, fields.path.appending(key), .invalidValue, "\(quoted(path)) must be an absolute path without empty, . or .. components")
            return nil
        }
        guard ManifestPolicy.allows(policy.credentialFiles, path: path) else {
            let rule: String = switch policy.credentialFiles {
            case .nowhere: "this Drove names no credential directory (start it with --credentials-dir DIR)"
            default: "credential files must lie in \(policy.credentialFiles)"
            }
            reader.report(node, fields.path.appending(key), .refusedByPolicy, "\(quoted(path)): \(rule)")
            return nil
        }
        return path
    }
}
