import Foundation

/// The PostgreSQL server `scripts/test.sh` starts for the PostgreSQL store's tests (`scripts/postgres.sh`).
public enum TestPostgres {
    /// Its connection URL, from `DROVE_TEST_POSTGRES_URL`; nil when no server was started.
    public static var url: String? {
        ProcessInfo.processInfo.environment["DROVE_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Under CI a missing server is a failure, never a skip (the rule of `LabHost.required`).
    public static var required: Bool { ProcessInfo.processInfo.environment["CI"] != nil }
}
