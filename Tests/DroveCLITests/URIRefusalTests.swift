import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// A manifest never makes Drove run a program: every verb that reads manifests, and the API of
/// `drove serve`, refuses a host URI that would, before any connection is opened, and a marker
/// program named in the URI never runs.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct URIRefusalTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-uri-\(UUID().uuidString.prefix(6))")
    var marker: URL { scratch.appendingPathComponent("ran") }
    var program: URL { scratch.appendingPathComponent("marker.sh") }

    /// URIs that would run `program` if libvirt were handed them.
    var hostileURIs: [String] {
        ["qemu+ext:///system?command=\(program.path)",
         "qemu+ssh://node-a/system?command=\(program.path)",
         "qemu+ssh://node-a/system?netcat=\(program.path)",
         "qemu+ssh://-oProxyCommand=\(program.lastPathComponent)/system"]
    }

    func prepare() throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try "#!/bin/sh\ntouch \(marker.path)\n".write(to: program, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: program.path)
    }

    func manifest(_ uri: String) throws -> URL {
        let file = scratch.appendingPathComponent("host.yaml")
        try "apiVersion: drove/v1\nkind: Host\nmetadata: { name: evil }\nspec:\n  uri: \"\(uri)\"\n".write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runDrove(arguments, in: scratch)
    }

    @Test("validate, plan, up and down refuse it with file:line:column and run nothing")
    func everyVerbRefuses() throws {
        try prepare()
        defer { try? FileManager.default.removeItem(at: scratch) }
        for uri in hostileURIs {
            _ = try manifest(uri)
            for verb in [["validate"], ["plan"], ["up", "--timeout", "5s"], ["down", "--timeout", "5s"]] {
                let (status, output) = try run(verb + ["-f", "host.yaml"])
                #expect(status == 1, "drove \(verb[0]) with \(uri): exit \(status)\n\(output)")
                #expect(output.contains("host.yaml:5:8: Host/evil: spec.uri: \"\(uri)\""), "drove \(verb[0]): \(output)")
                #expect(!FileManager.default.fileExists(atPath: marker.path), "drove \(verb[0]) with \(uri) ran the marker program")
            }
            let (_, json) = try run(["validate", "-o", "json", "-f", "host.yaml"])
            let report = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            let codes = (report?["diagnostics"] as? [[String: Any]])?.map { $0["code"] as? String }
            #expect(codes == ["refusedByPolicy"], "drove validate -o json with \(uri): \(json)")
        }
    }

    @Test("POST /api/v1/apply refuses it with 422, stores nothing and runs nothing")
    func serveRefuses() async throws {
        try prepare()
        defer { try? FileManager.default.removeItem(at: scratch) }
        try await withServe(dataDirectory: scratch.appendingPathComponent("state")) { port in
            let base = URL(string: "http://127.0.0.1:\(port)/api/v1")!
            for uri in hostileURIs {
                var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/apply?name=host.yaml")!)
                request.httpMethod = "POST"
                request.setValue("application/yaml", forHTTPHeaderField: "Content-Type")
                request.httpBody = Data("apiVersion: drove/v1\nkind: Host\nmetadata: { name: evil }\nspec:\n  uri: \"\(uri)\"\n".utf8)
                let (body, response) = try await URLSession.shared.data(for: request)
                let text = String(decoding: body, as: UTF8.self)
                #expect((response as? HTTPURLResponse)?.statusCode == 422, "\(uri): \(text)")
                let json = try JSONSerialization.jsonObject(with: body) as? [String: Any]
                let diagnostic = (json?["errors"] as? [[String: Any]])?.first
                #expect(diagnostic?["file"] as? String == "host.yaml" && diagnostic?["line"] as? Int == 5 && diagnostic?["column"] as? Int == 8
                        && diagnostic?["path"] as? String == "spec.uri", "\(uri): \(text)")
            }
            let (hosts, _) = try await URLSession.shared.data(from: base.appendingPathComponent("hosts"))
            #expect(!String(decoding: hosts, as: UTF8.self).contains("evil"))
            try await Task.sleep(for: .milliseconds(500))
            #expect(!FileManager.default.fileExists(atPath: marker.path), "drove serve ran the marker program")
        }
    }
}
