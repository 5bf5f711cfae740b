import ArgumentParser
import DroveAPI
import DroveClient
import Foundation

/// `drove users add|list|remove|rotate`: the API's users, for an admin.
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Add, list and remove the users of a running controller, and rotate their tokens (admins only).",
        subcommands: [Add.self, List.self, Remove.self, Rotate.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user and print its token, once: the controller keeps only a hash of it.")

        @Argument(help: "The user's name: lowercase letters, digits and '-'.")
        var name: String

        @Option(help: "viewer (reads), deployer (its own VM sets and templates) or admin (everything).")
        var role: Role

        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await reportingClientErrors {
                let made = try await client.client().addUser(name, role: role)
                UsersCommand.printToken(made, verb: "added")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users.")

        @Option(name: .shortAndLong, help: "Output format: table, yaml or json.")
        var output: OutputFormat = .table

        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await reportingClientErrors {
                let users = try await client.client().users()
                switch output {
                case .json: Swift.print(try ClientText.json(APIUserList(items: users)))
                case .yaml: Swift.print(try ClientText.yaml(APIUserList(items: users)), terminator: "")
                case .table, .wide:
                    if users.isEmpty {
                        Terminal.status("No users (the server's --token-file is the admin).")
                        return
                    }
                    let now = Date()
                    Swift.print(Terminal.table([["NAME", "ROLE", "AGE", "ADDED BY", "TOKEN AGE"]] + users.map {
                        [$0.name, $0.role.rawValue, ClientText.age(since: $0.createdAt, now: now), $0.createdBy,
                         ClientText.age(since: $0.rotatedAt, now: now)]
                    }))
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a user; its token stops working at once. What it owns stays (an admin may change it).")

        @Argument(help: "The user's name.")
        var name: String

        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await reportingClientErrors {
                try await client.client().removeUser(name)
                Terminal.status("user \(name) removed")
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a user a new token and print it, once; the old one stops working at once.")

        @Argument(help: "The user's name.")
        var name: String

        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await reportingClientErrors {
                UsersCommand.printToken(try await client.client().rotateToken(ofUser: name), verb: "given a new token")
            }
        }
    }

    /// The token alone on standard output (so `> file` keeps just it); the rest on standard error.
    static func printToken(_ made: APIUserToken, verb: String) {
        Terminal.status("user \(made.user.name) (\(made.user.role.rawValue)) \(verb); its token, shown only now:")
        Swift.print(made.token)
    }
}

extension Role: ExpressibleByArgument {}
