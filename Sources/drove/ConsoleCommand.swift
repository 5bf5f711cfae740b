import ArgumentParser
import DroveAPI
import DroveClient
import DroveManifest
import Foundation
import Libvirt

/// `drove console VM`: the VM's serial console, interactive, over this machine's own libvirt
/// connection to the VM's host.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Attach to a VM's serial console.",
        discussion: """
            Asks the API which host the VM is on and connects to that host's libvirt URI from \
            here (so this machine must be able to reach it, as virsh would). Keys go to the \
            guest as typed, Ctrl-C included. Press Ctrl-] to detach; the VM keeps running. The \
            session also ends when the VM stops.
            """)

    @Argument(help: ArgumentHelp("The VM, like web-0.", valueName: "vm"))
    var vm: String

    @Flag(help: "Take the console over from another session that holds it.")
    var force = false

    @OptionGroup var connection: ClientOptions

    /// Ctrl-], as in virsh and telnet.
    static let detachKey: UInt8 = 0x1d

    func run() async throws {
        let (host, uri) = try await reportingClientErrors { try await locate() }
        if case let .failure(refusal) = HostURI.check(uri, policy: .anyConfiguration) {
            Terminal.error("error: host \(host): refusing its URI \(uri): \(refusal)")
            throw ExitCode(1)
        }
        do {
            try await attach(host: host, uri: uri)
        } catch let error as LibvirtError {
            Terminal.error("error: vm \(vm) on \(host): \(error)")
            throw ExitCode(1)
        }
    }

    /// The VM's host and that host's libvirt URI, as the API knows them.
    func locate() async throws -> (String, String) {
        let client = try connection.client()
        guard let host = try await client.vm(named: vm).host else {
            throw ClientError.api(status: 409, message: "vm \(vm) is on no host yet", diagnostics: [])
        }
        guard let uri = try await client.object(ObjectReference(kind: .host, name: host)).summary?["uri"] else {
            throw ClientError.api(status: 409, message: "host \(host) of vm \(vm) is being deleted", diagnostics: [])
        }
        return (host, uri)
    }

    func attach(host: String, uri: String) async throws {
        let libvirt = try await Connection.open(uri, lanes: 2)
        guard let domain = try await libvirt.domain(named: vm) else {
            await libvirt.close()
            Terminal.error("error: vm \(vm) is not on \(host) (no such domain)")
            throw ExitCode(1)
        }
        let console: DomainStream
        do {
            console = try await domain.openConsole(force: force)
        } catch {
            await libvirt.close()
            throw error
        }
        Terminal.status("Connected to \(vm) on \(host). Press Ctrl-] to detach.")
        let terminal = RawTerminal()
        let ending: String
        do {
            ending = try await Self.copy(console)
        } catch {
            terminal?.restore()
            await console.close()
            await libvirt.close()
            throw error
        }
        terminal?.restore()
        await console.close()
        await libvirt.close()
        Terminal.status("\r\n\(ending)")
    }

    /// Copies stdin to the console and the console to stdout until Ctrl-] is typed, stdin ends,
    /// or the console closes; says which.
    static func copy(_ console: DomainStream) async throws -> String {
        try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask {
                for try await bytes in console.output {
                    bytes.withUnsafeBytes { raw in writeAll(STDOUT_FILENO, raw) }
                }
                return "The console closed (the VM stopped, or another session took it over)."
            }
            group.addTask {
                for await keys in keystrokes() {
                    try await console.send(keys)
                }
                return "Detached."
            }
            let ending = try await group.next() ?? "Detached."
            group.cancelAll()
            return ending
        }
    }

    /// What is typed, up to (not including) Ctrl-]; ends there or when stdin ends. Read on a
    /// thread of its own, as reading a terminal blocks.
    static func keystrokes() -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                let keys = buffer.prefix(count)
                if let detach = keys.firstIndex(of: detachKey) {
                    if detach > 0 { continuation.yield(Array(keys[..<detach])) }
                    break
                }
                continuation.yield(Array(keys))
            }
            continuation.finish()
        }
        reader.start()
        return stream
    }
}

private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
    var written = 0
    while written < bytes.count {
        let result = write(fd, bytes.baseAddress!.advanced(by: written), bytes.count - written)
        if result < 0, errno == EINTR { continue }
        guard result > 0 else { return }
        written += result
    }
}
