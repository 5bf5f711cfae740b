import ArgumentParser
import DroveEngine
import DrovePlan
import Foundation

/// `drove down`: remove what the manifests declare, and nothing else.
struct DownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Remove the VM sets the manifests declare, their disks, and their template copies.",
        discussion: "Domains and volumes Drove did not make, and sets these manifests do not declare, are left alone.")

    @OptionGroup var manifests: ManifestOptions
    @OptionGroup(title: "What manifests may name") var policy: PolicyOptions

    func validate() throws {
        try manifests.requireFiles()
    }

    @Option(help: "Give up after this long (e.g. 90s, 10m).")
    var timeout: DurationOption = DurationOption(argument: "10m")!

    func run() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let deployment = try await Deployment.open(manifests, policy: policy.policy())
        var manifest = deployment.manifest
        let sets = Set(manifest.vmSets.map(\.metadata.name))
        manifest.vmSets = []
        let reporter = ProgressReporter()
        let result = await deployment.converger
            .converge(DesiredState(manifest: manifest, images: deployment.images, removing: sets, pruneTemplates: .declared),
                      timeout: timeout.duration) { reporter.handle($0) }
        await deployment.close()
        for failure in result.failures { print("failed: \(failure)") }
        let elapsed = Terminal.duration(clock.now - start)
        if result.converged {
            let removed = reporter.counts["remove", default: 0]
            print("Removed \(removed) VMs of \(sets.count) sets in \(elapsed).")
        } else {
            print("Not everything was removed after \(elapsed): \(result.stopReason ?? "unknown reason").")
            throw ExitCode(1)
        }
    }
}
