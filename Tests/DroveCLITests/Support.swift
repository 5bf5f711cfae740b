import DroveTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The `drove` binary `swift build` made.
let droveBinary = LabHost.repository.appendingPathComponent(".build/debug/drove")

/// Runs `drove arguments` in `directory`, with `environment` over this process' own; returns its
/// exit status and its standard output and error together.
func runDrove(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = droveBinary
    process.arguments = arguments
    process.currentDirectoryURL = directory
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs `drove serve --data-dir DIR --port PORT` plus `arguments` on a random port while `body`
/// runs, once its API answers; stops it afterwards.
func withServe<T>(dataDirectory: URL, _ arguments: [String] = [], _ body: (_ port: Int) async throws -> T) async throws -> T {
    let port = LoopbackPort.random()
    let server = Process()
    server.executableURL = droveBinary
    server.arguments = ["serve", "--data-dir", dataDirectory.path, "--port", String(port)] + arguments
    server.standardOutput = FileHandle.nullDevice
    server.standardError = FileHandle.nullDevice
    try server.run()
    defer {
        server.terminate()
        server.waitUntilExit()
    }
    let hosts = URL(string: "http://127.0.0.1:\(port)/api/v1/hosts")!
    var up = false
    for _ in 0..<100 where !up {
        up = (try? await URLSession.shared.data(from: hosts)) != nil
        if !up { try await Task.sleep(for: .milliseconds(100)) }
    }
    try #require(up, "drove serve did not answer on port \(port)")
    return try await body(port)
}
