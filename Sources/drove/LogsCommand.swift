import ArgumentParser
import DroveClient
import Foundation

/// `drove logs VM [--follow] [--tail N]`: a VM's serial console log, through the API.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a VM's serial console log.",
        discussion: """
            The log is what the guest wrote to its serial console since the VM was created, read \
            on the VM's host through the API. --tail N starts with its last N lines; --follow \
            then keeps printing what the guest writes (checking every second) until interrupted.
            """)

    @Argument(help: ArgumentHelp("The VM, like web-0.", valueName: "vm"))
    var vm: String

    @Flag(name: .shortAndLong, help: "Keep printing new output until interrupted.")
    var follow = false

    @Option(help: ArgumentHelp("Print only the last N lines (then follow from there).", valueName: "n"))
    var tail: Int?

    @OptionGroup var connection: ClientOptions

    func validate() throws {
        if let tail, tail < 0 { throw ValidationError("--tail \(tail): give a number of lines, 0 or more") }
    }

    func run() async throws {
        try await reportingClientErrors {
            let client = try connection.client()
            var (log, offset) = try await readToEnd(client, from: 0)
            if let tail { log = LogTail.lastLines(log, tail) }
            write(log)
            while follow {
                try await Task.sleep(for: .seconds(1))
                let chunk: [UInt8]
                (chunk, offset) = try await readToEnd(client, from: offset)
                write(chunk)
            }
        }
    }

    /// Everything from `offset` to the log's current end (the API answers in pieces).
    func readToEnd(_ client: APIClient, from offset: UInt64) async throws(ClientError) -> ([UInt8], UInt64) {
        var bytes: [UInt8] = []
        var offset = offset
        while true {
            let piece = try await client.consoleLog(vm: vm, from: offset)
            guard !piece.bytes.isEmpty else { return (bytes, offset) }
            bytes += piece.bytes
            offset = piece.nextOffset
        }
    }

    func write(_ bytes: some Collection<UInt8>) {
        guard !bytes.isEmpty else { return }
        FileHandle.standardOutput.write(Data(bytes))
    }
}
