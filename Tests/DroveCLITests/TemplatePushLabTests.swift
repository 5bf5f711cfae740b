import DroveTestSupport
import Foundation
import Testing

/// The template store end to end, as users run it: an admin declares the lab's hosts and adds a
/// deployer; the deployer pushes the tiny image with `drove template push` and deploys a VM set
/// from it; the controller copies the pushed blob to a host and the guest comes up Ready.
@Suite(.serialized, .timeLimit(.minutes(6)), .enabled(if: LabHost.shouldRun))
struct TemplatePushLabTests {
    @Test("a deployer pushes an image and deploys from it on the lab; the VM set is hers and becomes Ready")
    func pushAndDeploy() async throws {
        let hosts = try #require(LabHost.hostsYAML(count: 3), "the lab is not running (drove lab up)")
        let image = try #require(LabHost.tinyTemplate, "no tiny template (scripts/build-tiny-template.sh)")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-push-lab-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let adminToken = scratch.appendingPathComponent("admin.token")
        try "admin-\(UUID().uuidString)".write(to: adminToken, atomically: true, encoding: .utf8)
        let hostsFile = scratch.appendingPathComponent("hosts.yaml")
        try hosts.write(to: hostsFile, atomically: true, encoding: .utf8)
        let setName = "pushed-\(UUID().uuidString.prefix(4).lowercased())"
        let setFile = scratch.appendingPathComponent("set.yaml")
        try """
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: \(setName) }
            spec: { replicas: 1, template: tiny, resources: { vcpus: 1, memory: 96Mi }, readiness: agent }
            """.write(to: setFile, atomically: true, encoding: .utf8)

        try await withServe(dataDirectory: scratch.appendingPathComponent("data"), ["--token-file", adminToken.path]) { port in
            let server = ["DROVE_SERVER": "http://127.0.0.1:\(port)"]
            let admin = server.merging(["DROVE_TOKEN_FILE": adminToken.path]) { $1 }
            func drove(_ arguments: [String], _ environment: [String: String]) throws -> (status: Int32, output: String) {
                try runDrove(arguments, in: scratch, environment: environment)
            }
            #expect(try drove(["apply", "-f", hostsFile.path], admin).status == 0)
            let added = try drove(["users", "add", "alice", "--role", "deployer"], admin)
            let token = try #require(added.output.split(separator: "\n").first { $0.hasPrefix("alice.") })
            let aliceFile = scratch.appendingPathComponent("alice.token")
            try String(token).write(to: aliceFile, atomically: true, encoding: .utf8)
            let alice = server.merging(["DROVE_TOKEN_FILE": aliceFile.path]) { $1 }

            let pushed = try drove(["template", "push", image, "--name", "tiny", "-o", "json"], alice)
            #expect(pushed.status == 0, "\(pushed.output)")
            #expect(pushed.output.contains("sha256:"), "\(pushed.output)")

            let deployed = try drove(["apply", "-f", setFile.path, "--wait", "--timeout", "4m"], alice)
            // Whatever happened, take the set and the template's copies down again.
            defer {
                _ = try? drove(["delete", "vmset", setName, "--wait"], alice)
                _ = try? drove(["delete", "template", "tiny", "--wait"], alice)
            }
            #expect(deployed.status == 0, "\(deployed.output)")
            let wide = try drove(["get", "vmsets", "-o", "wide"], alice)
            #expect(wide.output.contains(setName) && wide.output.contains("alice"), "\(wide.output)")
            let template = try drove(["get", "templates", "-o", "wide"], alice)
            #expect(template.output.contains("blob:sha256:") && template.output.contains("Present"), "\(template.output)")
        }
    }
}
