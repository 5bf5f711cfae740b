import ArgumentParser
import DroveManifest
import Foundation

/// What manifests may make this Drove open on its own machine: transports, credential files,
/// template files, git repositories (docs/manifests.md, "What a manifest may name").
struct PolicyOptions: ParsableArguments {
    @Flag(help: "Accept test:/// host URIs (libvirt's in-process test driver; for tests and benchmarks).")
    var allowTestDriver = false

    @Flag(help: "Accept qemu+tcp:// host URIs (neither encrypted nor authenticated).")
    var allowTCP = false

    @Option(help: ArgumentHelp("The directory that keyfile= (ssh) and pkipath= (tls) in host URIs may name.", valueName: "dir"))
    var credentialsDir: String?

    @Option(help: ArgumentHelp("A directory that template source paths may lie in (repeatable; default: anywhere for the CLI, nowhere for drove serve).",
                               valueName: "dir"))
    var templateDir: [String] = []

    @Option(help: ArgumentHelp("A directory whose git repositories a GitSource may fetch from by path or file:// (repeatable; default: anywhere for the CLI, nowhere for drove serve).",
                               valueName: "dir"))
    var repositoryDir: [String] = []

    @Flag(name: .customLong("allow-http-git"), help: "Accept http:// GitSource URLs (not encrypted; a token sent over one can be read on the way).")
    var allowHTTPGit = false

    /// The policy; `templatesByDefault` is where template files may lie when no --template-dir
    /// is given, `repositoriesByDefault` where local git repositories may when no --repository-dir is.
    func policy(templatesByDefault: ManifestPolicy.FileRule = .anywhere,
                repositoriesByDefault: ManifestPolicy.FileRule = .anywhere) -> ManifestPolicy {
        ManifestPolicy(
            testDriver: allowTestDriver, tcp: allowTCP,
            credentialFiles: credentialsDir.map { .under([absolute($0)]) } ?? .nowhere,
            templateFiles: templateDir.isEmpty ? templatesByDefault : .under(templateDir.map(absolute)),
            localRepositories: repositoryDir.isEmpty ? repositoriesByDefault : .under(repositoryDir.map(absolute)),
            plainHTTPGit: allowHTTPGit)
    }

    private func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true))
            .standardizedFileURL.path
    }
}
