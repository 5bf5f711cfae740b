import DroveManifest
@testable import DroveStore
import Foundation
import Testing

/// What only a shared (PostgreSQL) store does: several replicas on one database.
@Suite("Several replicas on one PostgreSQL store")
struct SharedStoreTests {
    @Test("a write through one replica reaches the watchers of another, in the one commit order, event ids and all")
    func changesCrossReplicas() async throws {
        try await TestDatabase.with { location in
            let first = try await Store.open(.postgres(location))
            let second = try await Store.open(.postgres(location))
            defer { try? first.close(); try? second.close() }
            let seen = second.changes()
            _ = try await first.apply(try applied(fleetYAML()))
            let event = try await second.appendEvent(NewEvent(object: web, reason: "Created", message: "web-0"))
            try await first.setStatus(StatusUpdate(observedGeneration: 1), for: web)
            var iterator = seen.makeAsyncIterator()
            var received: [StoreChange] = []
            for _ in 0..<5 { received.append(try #require(await iterator.next())) }
            #expect(received == [
                .objectApplied(nodeA, generation: 1), .objectApplied(alpine, generation: 1), .objectApplied(web, generation: 1),
                .eventAppended(event), .statusChanged(web),
            ])
            // Both read the same log: a watch resumes after an id on either.
            #expect(try await first.events(after: event.id - 1).map(\.id) == [event.id])
        }
    }

    @Test("writes from two replicas at once are serialized: every generation counted once")
    func concurrentWritesSerialize() async throws {
        try await TestDatabase.with { location in
            let first = try await Store.open(.postgres(location))
            let second = try await Store.open(.postgres(location))
            defer { try? first.close(); try? second.close() }
            _ = try await first.apply(try applied(fleetYAML()))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, store) in [first, second, first, second, first, second].enumerated() {
                    group.addTask { _ = try await store.apply(try applied(templateYAML + "\n---\n" + vmSetYAML(replicas: 10 + index))) }
                }
                try await group.waitForAll()
            }
            #expect(try await second.object(kind: .vmSet, name: "web")?.generation == 7)
        }
    }

    @Test("a replica that lost sight of changes since trimmed ends its watchers' streams, so they read the state again")
    func trimmedChangesEndStreams() async throws {
        try await TestDatabase.with { location in
            let store = try await Store.open(.postgres(location))
            defer { try? store.close() }
            let watcher = store.changes()
            // As if the table had been trimmed past what this replica read.
            try await store.executeForTesting("UPDATE change_horizon SET revision = (SELECT coalesce(max(revision), 0) + 1 FROM change)")
            try await store.appendEvent(NewEvent(object: web, reason: "Created", message: "trimmed before it was read"))
            var received: [StoreChange] = []
            for await change in watcher { received.append(change) }   // ends without close
            #expect(received.isEmpty)
            // A new watcher gets what comes next.
            let again = store.changes()
            let event = try await store.appendEvent(NewEvent(object: web, reason: "Created", message: "later"))
            var iterator = again.makeAsyncIterator()
            #expect(await iterator.next() == .eventAppended(event))
        }
    }

    @Test("a database holding other tables is refused, and so is one from a newer Drove")
    func foreignAndNewerDatabases() async throws {
        try await TestDatabase.with { location in
            do {
                let store = try await Store.open(.postgres(location))
                try await store.executeForTesting("INSERT INTO drove_schema (migration) VALUES ('pg99-from-the-future')")
                try store.close()
            }
            await #expect(throws: StoreError.newerSchema(path: location.description, unknownMigrations: ["pg99-from-the-future"])) {
                _ = try await Store.open(.postgres(location))
            }
        }
        try await TestDatabase.with { location in
            do {
                let store = try await Store.open(.postgres(location))
                // Make the database somebody else's: no drove_schema, one table of theirs.
                try await store.executeForTesting("DROP TABLE drove_schema")
                try await store.executeForTesting("CREATE TABLE invoices (id INT)")
                try store.close()
            }
            await #expect {
                _ = try await Store.open(.postgres(location))
            } throws: { error in
                guard case let .notAStore(path, reason) = error as? StoreError else { return false }
                return path == location.description && reason.contains("invoices")
            }
        }
    }

    @Test("a server that cannot be reached is named, without the password")
    func unreachableServer() async throws {
        let location = try PostgresLocation(url: "postgres://drove:secret@127.0.0.1:1/drove")
        await #expect {
            _ = try await Store.open(.postgres(location))
        } throws: { error in
            guard case let .unavailable(path, _, _) = error as? StoreError else { return false }
            return path == "postgres://drove@127.0.0.1:1/drove" && !"\(error)".contains("secret")
        }
    }
}

@Suite("Store locations")
struct StoreLocationTests {
    @Test("sqlite: and postgres:// locations parse; the password never shows")
    func parse() throws {
        #expect(try StoreLocation(parsing: "sqlite:/var/lib/drove/drove.sqlite") == .sqlite(path: "/var/lib/drove/drove.sqlite"))
        let location = try StoreLocation(parsing: "postgresql://drove:s3cret@db.example:6543/fleet?sslmode=require", environment: [:])
        guard case let .postgres(postgres) = location else { Issue.record("not postgres"); return }
        #expect(postgres.host == "db.example" && postgres.port == 6543 && postgres.user == "drove" && postgres.password == "s3cret")
        #expect(postgres.database == "fleet" && postgres.tls == .require)
        #expect(location.description == "postgres://drove@db.example:6543/fleet")
        let local = try PostgresLocation(url: "postgres://drove@localhost/drove", environment: ["PGPASSWORD": "fromenv"])
        #expect(local.password == "fromenv" && local.tls == .disable && local.port == 5432)
        let socket = try PostgresLocation(url: "postgres://drove@/drove?host=/run/postgresql")
        #expect(socket.socketDirectory == "/run/postgresql")
        for bad in ["mysql://x@y/z", "sqlite:", "postgres://db.example/fleet", "postgres://drove@db.example/", "postgres://u:p@h/d?ssl=1"] {
            #expect(throws: StoreError.self) { _ = try StoreLocation(parsing: bad, environment: [:]) }
        }
        #expect(throws: StoreError.invalidLocation("postgres://u:***@h/d?ssl=1", reason: "unknown parameter ssl (known: sslmode, host)")) {
            _ = try StoreLocation(parsing: "postgres://u:p@h/d?ssl=1", environment: [:])
        }
    }
}
