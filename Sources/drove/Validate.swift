import ArgumentParser

// Placeholder until the validate verb lands.
struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate")
    func run() async throws {}
}
