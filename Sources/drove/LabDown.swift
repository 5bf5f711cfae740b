import ArgumentParser
import DroveLab

extension Lab {
    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove every domain on the lab's hosts, stop their daemons and delete the lab."
        )

        @OptionGroup var options: LabDirectoryOptions

        func run() async throws {
            let lab = DroveLab.Lab(directory: options.directory)
            let torn = try await lab.down()
            if torn.isEmpty {
                print("no lab hosts in \(lab.directory.path); nothing to do")
                return
            }
            for host in torn {
                var parts: [String] = []
                if !host.domainsRemoved.isEmpty {
                    parts.append("removed domains \(host.domainsRemoved.joined(separator: ", "))")
                }
                parts.append(host.stopped.isEmpty ? "no process was running" : "stopped \(host.stopped.joined(separator: ", "))")
                print("\(host.name): \(parts.joined(separator: "; "))")
            }
            print("lab in \(lab.directory.path) is down")
        }
    }
}
