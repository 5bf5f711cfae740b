import ArgumentParser
import DroveClient
import Foundation

/// `drove ssh VM [-l USER] [-- SSH-ARGS...]`: ssh to the first address the API knows for a VM.
struct SSHCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh",
        abstract: "Log in to a VM with ssh, at the first address its host knows for it.",
        discussion: """
            Runs the ssh on your PATH in place of drove: ssh [-l USER] ADDRESS SSH-ARGS... \
            Arguments after -- go to ssh after the address: options (-i key, -o …) or a command \
            to run on the VM.
            """)

    @Argument(help: ArgumentHelp("The VM, like web-0.", valueName: "vm"))
    var vm: String

    @Option(name: .customShort("l"), help: ArgumentHelp("The user to log in as.", valueName: "user"))
    var login: String?

    @Argument(parsing: .postTerminator, help: ArgumentHelp("Arguments for ssh, after --.", valueName: "ssh-args"))
    var sshArguments: [String] = []

    @OptionGroup var connection: ClientOptions

    func run() async throws {
        let summary = try await reportingClientErrors { try await connection.client().vm(named: vm) }
        guard let address = summary.addresses.first else {
            Terminal.error("error: vm \(vm) has no known address yet (its host has reported none); try again once it is up")
            throw ExitCode(1)
        }
        let arguments = ["ssh"] + (login.map { ["-l", $0] } ?? []) + [address] + sshArguments
        let argv = arguments.map { strdup($0) } + [nil]
        execvp("ssh", argv)
        Terminal.error("error: cannot run ssh: \(String(cString: strerror(errno)))")
        throw ExitCode(1)
    }
}
