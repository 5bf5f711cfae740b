import ArgumentParser
import DroveEngine
import DrovePlan
import Foundation

/// `drove up`: converge the hosts to the manifests in this process, then exit.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Deploy the manifests onto their hosts and wait until every VM set matches.",
        discussion: """
            Exits 0 only when every set is converged: every VM made from the current spec, running, \
            and ready (for templates with readiness: agent, its guest has said it is up; --for running \
            stops waiting once every VM runs). Running it again on a converged fleet changes nothing.
            """)

    @OptionGroup var manifests: ManifestOptions
    @OptionGroup(title: "What manifests may name") var policy: PolicyOptions

    func validate() throws {
        try manifests.requireFiles()
    }

    @Option(help: "Give up after this long (e.g. 90s, 10m).")
    var timeout: DurationOption = DurationOption(argument: "15m")!

    @Option(help: "Actions in flight across all hosts.")
    var parallel = 32

    @Flag(help: "Also delete template copies that no VM uses and no pre-copy asks for.")
    var pruneTemplates = false

    enum Goal: String, ExpressibleByArgument { case ready, running }

    @Option(name: .customLong("for"), help: "Wait until every VM is ready (default), or only running.")
    var goal: Goal = .ready

    func run() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let deployment = try await Deployment.open(manifests, policy: policy.policy(), parallel: parallel)
        let reporter = ProgressReporter()
        let desired = DesiredState(manifest: deployment.manifest, images: deployment.images,
                                   pruneTemplates: pruneTemplates ? .unused : .none)
        let result = await deployment.converger
            .converge(desired, timeout: timeout.duration, goal: goal == .ready ? .ready : .running) { reporter.handle($0) }
        await deployment.close()

        print(Summary.sets(deployment.manifest, result.fleet))
        print("")
        print(Summary.hosts(deployment.manifest, result.fleet))
        for note in result.notes { print("note: \(note)") }
        for item in result.unschedulable { print("unschedulable: \(item.vm): \(item.reason)") }
        for failure in result.failures { print("failed: \(failure)") }
        let elapsed = Terminal.duration(clock.now - start)
        if result.actionsRun == 0 && result.converged {
            print("Already converged: no changes made (\(elapsed)).")
        } else if result.converged {
            let counts = reporter.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            print("Converged in \(elapsed) over \(result.passes) passes: \(counts).")
        } else {
            print("Not converged after \(elapsed): \(result.stopReason ?? "unknown reason").")
            throw ExitCode(1)
        }
    }
}
