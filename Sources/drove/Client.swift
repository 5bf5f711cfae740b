import ArgumentParser
import DroveClient
import Foundation

/// Where the Drove API is and how to prove who we are: shared by every verb that talks to it.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The Drove API to talk to (default: $DROVE_SERVER, else \(APIClient.defaultServer)).", valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("A file holding the API's bearer token, needed to change anything (default: $DROVE_TOKEN_FILE).", valueName: "path"))
    var tokenFile: String?

    func validate() throws {
        if let server, URL(string: server)?.scheme == nil {
            throw ValidationError("--server \(server) is not a URL; write it like \(APIClient.defaultServer)")
        }
    }

    /// A client for the chosen server, with the token read (if a token file was named).
    func client() throws(ClientError) -> APIClient {
        try APIClient.configured(server: server, tokenFile: tokenFile)
    }
}

extension ClientError {
    /// Prints the error and turns it into the process' exit code: 2 for usage, 1 otherwise.
    func exit() -> ExitCode {
        Terminal.error("error: \(self)")
        if case .usage = self { return ExitCode(2) }
        return ExitCode(1)
    }
}

/// Runs a verb's body, printing a `ClientError` and exiting with its code.
func reportingClientErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ClientError {
        throw error.exit()
    }
}
