import ArgumentParser
import DroveManifest
import Foundation

/// What manifests may make this Drove open on its own machine: transports, credential files,
/// template files (docs/manifests.md, "What a manifest may name").
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

    /// The policy; `templatesByDefault` is where template files may lie when no --template-dir is given.
    func policy(templatesByDefault: ManifestPolicy.FileRule = .anywhere) -> ManifestPolicy {
        ManifestPolicy(
            testDriver: allowTestDriver, tcp: allowTCP,
            credentialFiles: credentialsDir.map { .under([absolute($0)]) } ?? .nowhere,
            templateFiles: templateDir.isEmpty ? templatesByDefault : .under(templateDir.map(absolute)))
    }

    private func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true))
            .standardizedFileURL.path
    }
}
