import GRDB

/// The store's schema, as GRDB migrations. Never edit a migration that has shipped: add one.
/// A file holding a migration this list does not know was written by a newer Drove, and the
/// store refuses to open it rather than guess.
enum Schema {
    /// `PRAGMA application_id`: "DROV". Marks the file as a Drove store, so that pointing
    /// `--data-dir` at some other SQLite file fails instead of adding tables to it.
    static let applicationID: Int32 = 0x4452_4F56

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: "PRAGMA application_id = \(applicationID)")
            // Times are integer milliseconds since 1970 (UTC): exact round trips, cheap ranges.
            try db.execute(sql: """
                CREATE TABLE object (
                    kind TEXT NOT NULL CHECK (kind IN ('Host', 'Template', 'VMSet')),
                    name TEXT NOT NULL,
                    manifest TEXT NOT NULL,            -- the YAML document, as applied
                    baseDirectory TEXT NOT NULL,       -- relative template paths resolve here
                    spec TEXT NOT NULL,                -- canonical rendering: the spec fingerprint
                    labels TEXT NOT NULL,              -- JSON object, keys sorted
                    template TEXT,                     -- for a VMSet, the Template it names
                    generation INTEGER NOT NULL CHECK (generation >= 1),
                    createdAt INTEGER NOT NULL,
                    updatedAt INTEGER NOT NULL,
                    deletionRequestedAt INTEGER,       -- soft delete until pruned
                    PRIMARY KEY (kind, name)
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX object_template ON object(template) WHERE template IS NOT NULL;

                CREATE TABLE status (
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    observedGeneration INTEGER NOT NULL CHECK (observedGeneration >= 0),
                    counters TEXT NOT NULL,            -- JSON object of integers, keys sorted
                    updatedAt INTEGER NOT NULL,
                    PRIMARY KEY (kind, name),
                    FOREIGN KEY (kind, name) REFERENCES object(kind, name) ON DELETE CASCADE
                ) STRICT, WITHOUT ROWID;

                CREATE TABLE condition (
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    type TEXT NOT NULL CHECK (type IN ('Ready', 'Progressing', 'Degraded')),
                    status TEXT NOT NULL CHECK (status IN ('True', 'False', 'Unknown')),
                    reason TEXT NOT NULL,
                    message TEXT NOT NULL,
                    lastTransitionTime INTEGER NOT NULL,
                    PRIMARY KEY (kind, name, type),
                    FOREIGN KEY (kind, name) REFERENCES status(kind, name) ON DELETE CASCADE
                ) STRICT, WITHOUT ROWID;

                -- AUTOINCREMENT: an id is never reused, even after trimming removed every row,
                -- so a watcher resuming "after id N" never mistakes a new event for a seen one.
                CREATE TABLE event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    time INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    host TEXT,
                    type TEXT NOT NULL CHECK (type IN ('Normal', 'Warning')),
                    reason TEXT NOT NULL,
                    message TEXT NOT NULL
                ) STRICT;
                CREATE INDEX event_object ON event(kind, name, id);
                CREATE INDEX event_time ON event(time);
                """)
        }
        migrator.registerMigration("v2: Available condition, status details") { db in
            // SQLite cannot change a CHECK constraint in place: the table is made anew.
            try db.execute(sql: """
                CREATE TABLE condition_v2 (
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    type TEXT NOT NULL CHECK (type IN ('Ready', 'Available', 'Progressing', 'Degraded')),
                    status TEXT NOT NULL CHECK (status IN ('True', 'False', 'Unknown')),
                    reason TEXT NOT NULL,
                    message TEXT NOT NULL,
                    lastTransitionTime INTEGER NOT NULL,
                    PRIMARY KEY (kind, name, type),
                    FOREIGN KEY (kind, name) REFERENCES status(kind, name) ON DELETE CASCADE
                ) STRICT, WITHOUT ROWID;
                INSERT INTO condition_v2 SELECT kind, name, type, status, reason, message, lastTransitionTime FROM condition;
                DROP TABLE condition;
                ALTER TABLE condition_v2 RENAME TO condition;
                -- JSON: a VM set's readiness source, a template's copy on each host.
                ALTER TABLE status ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
                """)
        }
        migrator.registerMigration("v3: GitSource objects, ownership by source and revision") { db in
            // A new kind changes the CHECK constraint, so the table is made anew (SQLite's
            // documented way; GRDB runs migrations with foreign keys off and checks them after,
            // so status rows keep pointing at their objects).
            try db.execute(sql: """
                CREATE TABLE object_v3 (
                    kind TEXT NOT NULL CHECK (kind IN ('Host', 'Template', 'VMSet', 'GitSource')),
                    name TEXT NOT NULL,
                    manifest TEXT NOT NULL,
                    baseDirectory TEXT NOT NULL,
                    spec TEXT NOT NULL,
                    labels TEXT NOT NULL,
                    template TEXT,
                    generation INTEGER NOT NULL CHECK (generation >= 1),
                    createdAt INTEGER NOT NULL,
                    updatedAt INTEGER NOT NULL,
                    deletionRequestedAt INTEGER,
                    source TEXT,                       -- the GitSource that owns it; NULL: applied by hand
                    revision TEXT,                     -- the revision of that source that last applied it
                    PRIMARY KEY (kind, name),
                    CHECK (source IS NOT NULL OR revision IS NULL)
                ) STRICT, WITHOUT ROWID;
                INSERT INTO object_v3 (kind, name, manifest, baseDirectory, spec, labels, template, generation, createdAt, updatedAt,
                                       deletionRequestedAt)
                    SELECT kind, name, manifest, baseDirectory, spec, labels, template, generation, createdAt, updatedAt,
                           deletionRequestedAt FROM object;
                DROP TABLE object;
                ALTER TABLE object_v3 RENAME TO object;
                CREATE INDEX object_template ON object(template) WHERE template IS NOT NULL;
                CREATE INDEX object_source ON object(source) WHERE source IS NOT NULL;
                """)
        }
        migrator.registerMigration("v4: users, owners, actors") { db in
            // A token is kept only as the SHA-256 of its secret part; the token itself is
            // shown once, when it is made.
            try db.execute(sql: """
                CREATE TABLE user (
                    name TEXT NOT NULL PRIMARY KEY,
                    role TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'admin')),
                    tokenHash BLOB NOT NULL CHECK (length(tokenHash) = 32),
                    createdAt INTEGER NOT NULL,
                    createdBy TEXT NOT NULL,
                    rotatedAt INTEGER NOT NULL
                ) STRICT, WITHOUT ROWID;
                ALTER TABLE object ADD COLUMN owner TEXT;    -- who created it; NULL: before users, or by git
                ALTER TABLE event ADD COLUMN actor TEXT;     -- who caused it; NULL: the controller
                """)
        }
        migrator.registerMigration("v5: leases, controllers") { db in
            for statement in Leases.tables(integer: "INTEGER", strict: " STRICT, WITHOUT ROWID") { try db.execute(sql: statement) }
        }
        return migrator
    }
}
