import ArgumentParser
import DroveStore
import Foundation

/// `drove store copy`: moves an installation's state between stores.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Work on a controller's store directly.",
        subcommands: [Copy.self])

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "copy",
            abstract: "Copy desired objects, status, events and users from one store into another, empty one.",
            discussion: """
                Moves an installation from SQLite to PostgreSQL (or back):
                  drove store copy --from sqlite:/var/lib/drove/state/drove.sqlite --to postgres://drove@db.example/drove
                The source is read in one consistent snapshot, so it may be in use; the target must
                hold no objects, events or users, and is written in one transaction, all or nothing.
                Event ids go on from the source's, so watchers resuming after an id never see one
                reused. Then stop the old controller and start `drove serve --store` on the target
                (docs/ha.md). Without a password in a postgres:// URL, PGPASSWORD is used.
                """)

        @Option(help: ArgumentHelp("The store to read: sqlite:PATH or postgres://…", valueName: "location"))
        var from: String

        @Option(help: ArgumentHelp("The empty store to write: sqlite:PATH or postgres://…", valueName: "location"))
        var to: String

        func run() async throws {
            do {
                let source = try StoreLocation(parsing: from), target = try StoreLocation(parsing: to)
                if source == target { throw ValidationError("--from and --to are the same store") }
                let reading = try await Store.open(source)
                defer { try? reading.close() }
                let snapshot = try await reading.snapshot()
                let writing = try await Store.open(target)
                defer { try? writing.close() }
                try await writing.restore(snapshot)
                let counts = snapshot.counts.map { "\($0.rows) \($0.table.replacingOccurrences(of: "\"", with: ""))" }.joined(separator: ", ")
                Terminal.status("Copied \(source) to \(target): \(counts) rows.")
            } catch let error as StoreError {
                Terminal.error("error: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
