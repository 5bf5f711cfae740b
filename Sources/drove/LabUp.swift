import ArgumentParser
import DroveLab

extension Lab {
    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the lab's hosts (those already running are left alone) and write hosts.yaml."
        )

        @Option(name: .long, help: "How many hosts: node-1 … node-<N>.")
        var hosts: Int = 3

        @OptionGroup var options: LabDirectoryOptions

        func run() async throws {
            let lab = DroveLab.Lab(directory: options.directory)
            let hosts = try await lab.up(hosts: hosts)
            let width = hosts.map(\.name.count).max() ?? 0
            for host in hosts {
                print(host.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + host.uri)
            }
            print("hosts manifest: \(lab.layout.hostsManifest.path)")
        }
    }
}
