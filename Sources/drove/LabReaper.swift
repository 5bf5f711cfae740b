import ArgumentParser
import DroveLab

extension Lab {
    /// `drove lab reaper`: what each lab host's daemons run under (see `LabReaper`). Hidden: `lab
    /// up` starts it inside the host's namespaces, and it leaves once the host is stopped.
    struct Reaper: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command as a child subreaper and collect its descendants until none is left.",
            shouldDisplay: false
        )

        @Option(help: "Where to write this process's pid.")
        var pidFile: String

        @Argument(parsing: .postTerminator, help: "The command to run (after --).")
        var command: [String] = []

        func validate() throws {
            if command.isEmpty { throw ValidationError("give the command to run after --") }
        }

        func run() throws {
            LabReaper.run(pidFile: pidFile, command: command)
        }
    }
}
