import ArgumentParser

// Placeholder until the schema verb lands.
struct Schema: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schema")
    func run() async throws {}
}
