import ArgumentParser

// Placeholder until the lab verb lands.
struct Lab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lab")
    func run() async throws {}
}
