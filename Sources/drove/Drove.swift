import ArgumentParser

@main
struct Drove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drove",
        abstract: "Deploy droves of virtual machines onto a fleet of libvirt hosts, declaratively.",
        version: "0.1.0",
        subcommands: [
            Validate.self, Schema.self, PlanCommand.self, UpCommand.self, DownCommand.self,
            ServeCommand.self, ApplyCommand.self, GetCommand.self, DescribeCommand.self, DeleteCommand.self,
            DiffCommand.self, WaitCommand.self, SyncCommand.self, TemplateCommand.self, LogsCommand.self, ConsoleCommand.self, SSHCommand.self, UsersCommand.self, StoreCommand.self, Lab.self,
        ]
    )
}
