import DroveAPI
import DroveManifest
import DroveServer
import DroveStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("POST /api/v1/apply")
struct ApplyTests {
    @Test("valid YAML is stored, listed and enqueued; applying it again changes nothing")
    func applyValidYAML() async throws {
        try await withRouterClient { fixture, client in
            let first = try await client.execute(uri: "/api/v1/apply?name=fleet.yaml&base=/srv/manifests", method: .post,
                                                 headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML()))
            #expect(first.status == .ok, "\(text(first))")
            let results = try decode(APIApplyResponse.self, first).results
            #expect(results == [
                APIApplyResult(kind: "Host", name: "node-a", result: "created", generation: 1),
                APIApplyResult(kind: "Template", name: "alpine", result: "created", generation: 1),
                APIApplyResult(kind: "VMSet", name: "web", result: "created", generation: 1),
            ])
            #expect(Set(fixture.controller.enqueued) == [
                ObjectReference(kind: .host, name: "node-a"), ObjectReference(kind: .template, name: "alpine"),
                ObjectReference(kind: .vmSet, name: "web"),
            ])

            let list = try await client.execute(uri: "/api/v1/vmsets", method: .get)
            #expect(list.status == .ok)
            let items = try decode(APIObjectList.self, list).items
            #expect(items.map(\.name) == ["web"])
            #expect(items[0].summary?["template"] == "alpine")
            #expect(items[0].summary?["replicas"] == "3")
            #expect(items[0].manifest.contains("kind: VMSet"))
            #expect(items[0].status == nil)

            let template = try decode(APIObject.self, try await client.execute(uri: "/api/v1/templates/alpine", method: .get))
            #expect(template.summary?["resolvedPath"] == "/srv/manifests/images/alpine.qcow2")
            #expect(template.baseDirectory == "/srv/manifests")

            fixture.controller.resetEnqueued()
            let again = try await client.execute(uri: "/api/v1/apply?name=fleet.yaml&base=/srv/manifests", method: .post,
                                                 headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML()))
            #expect(try decode(APIApplyResponse.self, again).results.map(\.result) == ["unchanged", "unchanged", "unchanged"])
            #expect(fixture.controller.enqueued.isEmpty)
        }
    }

    @Test("a changed VM set is configured at the next generation and enqueued alone")
    func applyChangedSet() async throws {
        try await withRouterClient { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML()))
            fixture.controller.resetEnqueued()
            let response = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                    body: ByteBuffer(string: fleetYAML(replicas: 5)))
            #expect(try decode(APIApplyResponse.self, response).results.last
                    == APIApplyResult(kind: "VMSet", name: "web", result: "configured", generation: 2))
            #expect(fixture.controller.enqueued == [ObjectReference(kind: .vmSet, name: "web")])
        }
    }

    @Test("a VM set may name a template stored earlier, and a changed template enqueues every set")
    func applyAgainstStoredTemplate() async throws {
        try await withRouterClient { fixture, client in
            let base = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                body: ByteBuffer(string: hostYAML + "\n---\n" + templateYAML))
            #expect(base.status == .ok)

            let sets = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                body: ByteBuffer(string: vmSetYAML("web") + "\n---\n" + vmSetYAML("api", replicas: 1)))
            #expect(sets.status == .ok, "\(text(sets))")
            #expect(try decode(APIApplyResponse.self, sets).results.map(\.name) == ["web", "api"])

            // The template again, changed, in the same request as one of the sets.
            fixture.controller.resetEnqueued()
            let changed = templateYAML.replacingOccurrences(of: "images/alpine.qcow2", with: "images/alpine-2.qcow2")
            let both = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                body: ByteBuffer(string: changed + "\n---\n" + vmSetYAML("web")))
            #expect(both.status == .ok, "\(text(both))")
            #expect(try decode(APIApplyResponse.self, both).results.map(\.result) == ["configured", "unchanged"])
            #expect(Set(fixture.controller.enqueued) == [
                ObjectReference(kind: .template, name: "alpine"), ObjectReference(kind: .vmSet, name: "web"),
                ObjectReference(kind: .vmSet, name: "api"),
            ])
        }
    }

    @Test("invalid YAML answers 422 with every error's line and column, and stores nothing")
    func applyInvalid() async throws {
        try await withRouterClient { fixture, client in
            let yaml = """
                apiVersion: drove/v1
                kind: VMSet
                metadata: { name: web }
                spec:
                  replicas: -2
                  template: nowhere
                """
            let response = try await client.execute(uri: "/api/v1/apply?name=bad.yaml", method: .post,
                                                    headers: fixture.yamlHeaders(), body: ByteBuffer(string: yaml))
            #expect(response.status == .unprocessableContent)
            let body = try decode(APIErrorBody.self, response)
            let errors = try #require(body.errors)
            #expect(errors.count == 2)
            let replicas = try #require(errors.first { $0.path == "spec.replicas" })
            #expect(replicas.file == "bad.yaml")
            #expect(replicas.line == 5)
            #expect(replicas.column == 13)
            #expect(replicas.subject == "VMSet/web")
            #expect(replicas.text.hasPrefix("bad.yaml:5:13: VMSet/web: spec.replicas:"))
            let template = try #require(errors.first { $0.path == "spec.template" })
            #expect(template.line == 6)
            #expect(template.message.contains("nowhere"))
            #expect(body.error.contains("2 errors"))
            #expect(try await fixture.store.objects().isEmpty)
            #expect(fixture.controller.enqueued.isEmpty)
        }
    }

    @Test("a YAML syntax error is a 422 with its position")
    func applySyntaxError() async throws {
        try await withRouterClient { fixture, client in
            let response = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                    body: ByteBuffer(string: "kind: Host\nmetadata: { name: [\n"))
            #expect(response.status == .unprocessableContent)
            let errors = try #require(try decode(APIErrorBody.self, response).errors)
            #expect(errors.first?.file == "<request>")
            #expect((errors.first?.line ?? 0) >= 2)
        }
    }

    @Test("the JSON form carries several files, each with its own base directory")
    func applyJSONSources() async throws {
        try await withRouterClient { fixture, client in
            let body = APISources(sources: [
                APISource(name: "infra/hosts.yaml", text: hostYAML + "\n---\n" + templateYAML, baseDirectory: "/srv/infra"),
                APISource(name: "apps/web.yaml", text: vmSetYAML(), baseDirectory: "/srv/apps"),
            ])
            var headers = fixture.authorized
            headers[.contentType] = "application/json"
            let response = try await client.execute(uri: "/api/v1/apply", method: .post, headers: headers,
                                                    body: ByteBuffer(data: try APIJSON.encoder().encode(body)))
            #expect(response.status == .ok, "\(text(response))")
            #expect(try decode(APIApplyResponse.self, response).results.count == 3)
            let template = try #require(try await fixture.store.object(kind: .template, name: "alpine"))
            #expect(template.baseDirectory == "/srv/infra")
            let set = try #require(try await fixture.store.object(kind: .vmSet, name: "web"))
            #expect(set.baseDirectory == "/srv/apps")

            let relative = APISources(sources: [APISource(name: "x.yaml", text: hostYAML, baseDirectory: "relative/dir")])
            let refused = try await client.execute(uri: "/api/v1/apply", method: .post, headers: headers,
                                                   body: ByteBuffer(data: try APIJSON.encoder().encode(relative)))
            #expect(refused.status == .badRequest)
            #expect(try decode(APIErrorBody.self, refused).error.contains("relative/dir"))
        }
    }

    @Test("an empty body and an unknown content type are refused")
    func applyNothing() async throws {
        try await withRouterClient { fixture, client in
            let empty = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                                 body: ByteBuffer(string: "# nothing here\n"))
            #expect(empty.status == .badRequest)
            #expect(try decode(APIErrorBody.self, empty).error.contains("no objects"))

            var headers = fixture.authorized
            headers[.contentType] = "application/xml"
            let xml = try await client.execute(uri: "/api/v1/apply", method: .post, headers: headers, body: ByteBuffer(string: "<a/>"))
            #expect(xml.status == .unsupportedMediaType)
        }
    }
}
