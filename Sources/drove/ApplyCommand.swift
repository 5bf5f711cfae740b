import ArgumentParser
import DroveAPI
import DroveClient
import DroveManifest
import Foundation

/// `drove apply -f PATH`: sends manifests to the controller, which stores them and converges.
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Send manifests to the running controller, which makes the fleet match them.",
        discussion: """
            Reads every file given (a directory means every *.yaml and *.yml below it; - means \
            standard input), checks them as strictly as `drove validate`, and sends them to the \
            API of `drove serve`. Each object is created, configured or left unchanged. A VM set \
            may name a template applied earlier. Relative template paths resolve against each \
            file's directory, on the controller's machine. With --wait, it then waits until every \
            VM set it sent is Ready (every replica made from the current spec and ready, by its \
            guest's word where the template has readiness: agent; --for running stops at running), \
            showing progress. Exits 1 on any error or timeout.
            """)

    @OptionGroup var manifests: ManifestOptions
    @OptionGroup var connection: ClientOptions

    @Flag(help: "Wait until every VM set sent is Ready, showing progress.")
    var wait = false

    enum Goal: String, ExpressibleByArgument { case ready, running }

    @Option(name: .customLong("for"), help: "With --wait: until every VM is ready (default), or only running.")
    var goal: Goal = .ready

    @Option(help: "How long --wait waits (like 90s, 5m, 1h).")
    var timeout: DurationOption = DurationOption(argument: "10m")!

    @Option(name: .shortAndLong, help: "Output format: text or json.")
    var output: ApplyOutput = .text

    enum ApplyOutput: String, ExpressibleByArgument, CaseIterable { case text, json }

    func validate() throws {
        try manifests.requireFiles()
    }

    func run() async throws {
        try await reportingClientErrors {
            let client = try connection.client()
            let sources = try ClientManifests.sources(manifests.files)
            let response = try await sendingManifests(verb: "applied") { () async throws(ClientError) in try await client.apply(sources) }
            switch output {
            case .text:
                for result in response.results {
                    print("\(ClientText.name(kind: result.kind, result.name)) \(result.result)")
                }
            case .json:
                print(try ClientText.json(response))
            }
            guard wait else { return }
            let sets = response.results.filter { $0.kind == ObjectKind.vmSet.rawValue }.map { ObjectReference(kind: .vmSet, name: $0.name) }
            try await Self.waitUntilReady(sets, client: client, timeout: timeout.duration,
                                          condition: goal == .ready ? .condition(type: "Ready", status: "True") : .running)
        }
    }

    /// Waits for `sets` to be Ready, printing each set's progress when it changes.
    static func waitUntilReady(_ sets: [ObjectReference], client: APIClient, timeout: Duration,
                               condition: WaitCondition = .condition(type: "Ready", status: "True")) async throws {
        guard !sets.isEmpty else { return }
        let started = ContinuousClock.now
        var waiter = ObjectWaiter(client: client, condition: condition)
        waiter.progress = { reference, object in
            Terminal.status("\(ClientText.name(kind: reference.kind.rawValue, reference.name)): \(progressLine(object))")
        }
        let late = try await waiter.wait(for: sets, timeout: timeout)
        if late.isEmpty {
            let word = condition == .running ? "running" : "Ready"
            Terminal.status("\(sets.count == 1 ? "the VM set is" : "all \(sets.count) VM sets are") \(word) after \(Terminal.duration(ContinuousClock.now - started))")
            return
        }
        for (reference, object) in late {
            Terminal.error("error: \(reference) is not Ready after \(Terminal.duration(timeout)): \(ObjectWaiter.reason(object, condition: waiter.condition))")
        }
        throw ExitCode(1)
    }

    static func progressLine(_ object: APIObject?) -> String {
        guard let object else { return "not found" }
        let counters = object.status?.counters ?? [:]
        let desired = counters["desired"].map(String.init) ?? object.summary?["replicas"] ?? "?"
        let readiness = object.status?.readiness.map { " (\($0))" } ?? ""
        var line = "\(counters["running"] ?? 0)/\(desired) running, \(counters["ready"] ?? 0)/\(desired) ready\(readiness), \(ClientText.state(object))"
        let message = ClientText.message(object)
        if !message.isEmpty { line += ": \(message)" }
        return line
    }
}

/// Runs `call`, which sends manifests. Problems only the server could find (a template it does
/// not hold either) come back as a 422 with diagnostics: they are printed, and the command exits 1.
func sendingManifests<Response>(verb: String, _ call: () async throws(ClientError) -> Response) async throws -> Response {
    do throws(ClientError) {
        return try await call()
    } catch {
        if case let .api(422, _, diagnostics) = error, !diagnostics.isEmpty {
            printDiagnostics(diagnostics, verb: verb)
            throw ExitCode(1)
        }
        throw error
    }
}

/// Prints the server's manifest diagnostics, one per line, and a count.
func printDiagnostics(_ diagnostics: [APIDiagnostic], verb: String) {
    for diagnostic in diagnostics { Terminal.error(diagnostic.text) }
    Terminal.error("\(diagnostics.count) \(diagnostics.count == 1 ? "error" : "errors") in the manifests; nothing was \(verb)")
}
