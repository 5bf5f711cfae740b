import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `drove delete -f` reads only each document's kind and name, so a file deletes what it names
/// even when the objects it refers to are in other files, or nowhere.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DeleteFileTests {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("drove-delete-\(UUID().uuidString.prefix(6))")

    func write(_ text: String, to name: String) throws {
        try text.write(to: scratch.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// GET `path` on the API: the status and the JSON object answered.
    func get(_ path: String, port: Int) async throws -> (status: Int?, object: [String: Any]?) {
        let (body, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/api/v1/\(path)")!)
        return ((response as? HTTPURLResponse)?.statusCode, try JSONSerialization.jsonObject(with: body) as? [String: Any])
    }

    @Test("delete -f on a VM set's file alone deletes that set, its template left in place")
    func deleteSetByItsFileAlone() async throws {
        let images = scratch.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // The image is never read: apply only checks that its path lies under --template-dir.
        try write("apiVersion: drove/v1\nkind: Template\nmetadata: { name: alpine }\nspec: { source: { path: images/alpine.qcow2 } }\n",
                  to: "template.yaml")
        try write("apiVersion: drove/v1\nkind: VMSet\nmetadata: { name: web }\nspec: { replicas: 2, template: alpine }\n", to: "set-only.yaml")
        try write("apiVersion: drove/v1\nkind: VMSet\nmetadata: { name: ghost }\nspec: { replicas: 1, template: nowhere }\n", to: "ghost.yaml")

        try await withServe(dataDirectory: scratch.appendingPathComponent("state"), ["--template-dir", images.path]) { port in
            let environment = ["DROVE_SERVER": "http://127.0.0.1:\(port)"]
            let applied = try runDrove(["apply", "-f", "template.yaml", "-f", "set-only.yaml"], in: scratch, environment: environment)
            #expect(applied.status == 0, "drove apply: \(applied.output)")
            // On its own the set's file does not load: its template is declared elsewhere.
            #expect(try runDrove(["validate", "-f", "set-only.yaml"], in: scratch).status == 1)

            let deleted = try runDrove(["delete", "-f", "set-only.yaml"], in: scratch, environment: environment)
            #expect(deleted.status == 0, "drove delete: \(deleted.output)")
            #expect(deleted.output == "vmset/web deletion requested\n")
            let set = try await get("vmsets/web", port: port)
            #expect(set.status == 404 || set.object?["deletionRequested"] as? Bool == true, "VMSet/web: \(String(describing: set.object))")
            let template = try await get("templates/alpine", port: port)
            #expect(template.status == 200 && template.object?["deletionRequested"] as? Bool == false)

            // A template declared nowhere at all does not stop the request either.
            let ghost = try runDrove(["delete", "-f", "ghost.yaml", "--ignore-not-found"], in: scratch, environment: environment)
            #expect(ghost.status == 0, "drove delete: \(ghost.output)")
            let missing = try runDrove(["delete", "-f", "ghost.yaml"], in: scratch, environment: environment)
            #expect(missing.status == 1 && missing.output.contains("VMSet/ghost not found"), "drove delete: \(missing.output)")
        }
    }
}
