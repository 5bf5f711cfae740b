import DroveAPI
import DroveServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// `drove serve --tls-cert --tls-key`: the API over TLS, checked by a real TLS client (curl)
/// that verifies the certificate against the CA it was made with.
@Suite("TLS")
struct TLSTests {
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    @Test("the API answers over TLS with the configured certificate; plain HTTP gets no answer")
    func servesTLS() async throws {
        try await withFixture { fixture in
            let cert = fixture.directory + "/cert.pem", key = fixture.directory + "/key.pem"
            let made = try Self.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                     "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                                     "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            try #require(made.status == 0, "\(made.output)")
            var configuration = fixture.configuration
            configuration.tlsCertificate = cert
            configuration.tlsKey = key
            let app = try buildApplication(configuration: configuration, store: fixture.store, controller: fixture.controller,
                                           registry: fixture.registry, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let health = try Self.run(["curl", "-sS", "--cacert", cert, "https://127.0.0.1:\(port)/healthz"])
                #expect(health.status == 0 && health.output.hasPrefix("ok\n"), "\(health.output)")
                let authorized = try Self.run(["curl", "-sS", "--cacert", cert, "-H", "Authorization: Bearer \(Fixture.token)",
                                               "https://127.0.0.1:\(port)/api/v1/vmsets"])
                #expect(authorized.output.contains(#""items":[]"#), "\(authorized.output)")
                // A client that does not trust the certificate refuses it; one speaking plain HTTP gets no API.
                let untrusted = try Self.run(["curl", "-sS", "https://127.0.0.1:\(port)/healthz"])
                #expect(untrusted.status != 0)
                let plain = try Self.run(["curl", "-sS", "--max-time", "5", "http://127.0.0.1:\(port)/healthz"])
                #expect(plain.output != "ok\n")
            }
        }
    }

    @Test("a certificate or key that does not read is refused at start, naming the file")
    func badFiles() async throws {
        try await withFixture { fixture in
            let junk = fixture.directory + "/junk.pem"
            try "not a certificate".write(toFile: junk, atomically: true, encoding: .utf8)
            var configuration = fixture.configuration
            configuration.tlsCertificate = junk
            configuration.tlsKey = junk
            do {
                _ = try buildApplication(configuration: configuration, store: fixture.store, controller: fixture.controller,
                                         registry: fixture.registry, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
                Issue.record("a junk certificate was accepted")
            } catch {
                #expect("\(error)".contains("TLS file \(junk)"), "\(error)")
            }
        }
    }
}
