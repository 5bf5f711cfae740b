import ArgumentParser
import DroveLab
import Foundation

extension Lab {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show each lab host's daemons, domains and pool.")

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case table, json
        }

        @OptionGroup var options: LabDirectoryOptions

        @Option(name: [.short, .long], help: "Output format: table or json.")
        var output: Format = .table

        func run() async throws {
            let lab = DroveLab.Lab(directory: options.directory)
            let statuses = await lab.status()
            switch output {
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(statuses), as: UTF8.self))
            case .table:
                if statuses.isEmpty {
                    print("no lab in \(lab.directory.path)")
                    return
                }
                print(Self.table(statuses))
            }
        }

        static func table(_ statuses: [LabHostStatus]) -> String {
            let header = ["NAME", "LIBVIRTD", "VIRTLOGD", "ANSWERING", "DOMAINS RUN/DEF", "POOL FREE", "NETWORK", "URI"]
            let rows = statuses.map { status in
                [status.name,
                 process(status.libvirtdPid, alive: status.libvirtdAlive),
                 process(status.virtlogdPid, alive: status.virtlogdAlive),
                 status.answering ? "yes" : "no",
                 status.domainsRunning.map { "\($0)/\(status.domainsDefined ?? 0)" } ?? "-",
                 status.poolAvailableBytes.map(bytes) ?? "-",
                 status.networkActive.map { $0 ? "active" : "inactive" } ?? "-",
                 status.uri]
            }
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            let lines = ([header] + rows).map { row in
                row.enumerated().map { column, cell in
                    column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                }.joined(separator: "  ")
            }
            let problems = statuses.compactMap { status in status.error.map { "\(status.name): \($0)" } }
            return (lines + problems).joined(separator: "\n")
        }

        static func process(_ pid: Int32?, alive: Bool) -> String {
            guard let pid else { return "-" }
            return "\(pid) \(alive ? "alive" : "dead")"
        }

        static func bytes(_ count: UInt64) -> String {
            let units = ["B", "KiB", "MiB", "GiB", "TiB"]
            var value = Double(count)
            var unit = 0
            while value >= 1024, unit < units.count - 1 {
                value /= 1024
                unit += 1
            }
            return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
        }
    }
}
