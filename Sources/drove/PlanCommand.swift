import ArgumentParser
import DroveEngine
import DrovePlan
import Foundation

/// `drove plan`: what one pass would do, without doing it.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Show the actions a pass would take on the hosts, without taking them.")

    @OptionGroup var manifests: ManifestOptions
    @OptionGroup(title: "What manifests may name") var policy: PolicyOptions

    func validate() throws {
        try manifests.requireFiles()
    }

    @Option(name: .shortAndLong, help: "Output format: text or json.")
    var output: PlanFormat = .text

    enum PlanFormat: String, ExpressibleByArgument { case text, json }

    func run() async throws {
        let deployment = try await Deployment.open(manifests, policy: policy.policy())
        let fleet = await deployment.connections.observe()
        await deployment.close()
        let plan = DrovePlan.plan(DesiredState(manifest: deployment.manifest, images: deployment.images), fleet)
        switch output {
        case .json:
            let document: [String: Any] = [
                "actions": plan.actions.map { ["id": $0.id, "host": $0.host, "action": $0.verb, "summary": $0.summary, "dependsOn": $0.dependsOn] },
                "unschedulable": plan.unschedulable.map { ["vm": $0.vm, "reason": $0.reason] },
                "notes": plan.notes,
            ]
            let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        case .text:
            for note in plan.notes { print("note: \(note)") }
            if plan.isEmpty {
                print("No changes: the fleet matches the manifests.")
            } else {
                print(Terminal.table([["ID", "HOST", "ACTION", "AFTER", "WHAT"]] + plan.actions.map {
                    [String($0.id), $0.host, $0.verb, $0.dependsOn.map(String.init).joined(separator: ","), $0.summary]
                }))
            }
            for item in plan.unschedulable { print("unschedulable: \(item.vm): \(item.reason)") }
        }
    }
}
