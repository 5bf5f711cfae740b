/// Everything running git can fail with. It names the git operation and what it was about (a
/// URL, a revision), and carries git's own words; never a credential, which git is given
/// through its environment and never echoes.
public struct GitError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// git could not be started (not installed at the configured path).
        case notStarted
        /// git exited with this status.
        case exited(Int32)
        /// git ran past its time limit and was stopped.
        case timedOut
        /// git wrote more than the caller reads.
        case outputTooLarge
        /// git's output is not what this build understands.
        case unexpectedOutput
        /// A credential file could not be read, or is not allowed.
        case credentials
    }

    public var kind: Kind
    /// What was being done: `git fetch from https://example.org/infra.git`.
    public var operation: String
    /// git's standard error (its last lines), or what went wrong.
    public var message: String

    public init(_ kind: Kind, operation: String, message: String) {
        self.kind = kind
        self.operation = operation
        self.message = message
    }

    public var description: String {
        let what = switch kind {
        case .notStarted: "could not start git"
        case let .exited(status): "exit \(status)"
        case .timedOut: "timed out"
        case .outputTooLarge: "too much output"
        case .unexpectedOutput: "unexpected output"
        case .credentials: "credentials"
        }
        return message.isEmpty ? "\(operation): \(what)" : "\(operation): \(what): \(message)"
    }
}
