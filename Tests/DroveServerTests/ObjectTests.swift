import DroveAPI
import DroveManifest
import DrovePlan
import DroveServer
import DroveStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Objects: get, delete, not found, plan, VMs")
struct ObjectTests {
    @Test("one object carries its status and conditions once the controller wrote them")
    func getWithStatus() async throws {
        try await withRouterClient { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML()))
            try await fixture.store.setStatus(StatusUpdate(
                observedGeneration: 1,
                conditions: [.ready: ConditionReport(status: .false, reason: "ReplicasStarting", message: "1 of 3 ready"),
                             .progressing: ConditionReport(status: .true, reason: "Creating")],
                counters: [StatusCounter.desired: 3, StatusCounter.ready: 1]), for: ObjectReference(kind: .vmSet, name: "web"))

            // Kinds are accepted singular or plural, any case.
            for path in ["/api/v1/vmsets/web", "/api/v1/VMSet/web", "/api/v1/vmset/web"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .ok, "\(path)")
                let object = try decode(APIObject.self, response)
                #expect(object.kind == "VMSet")
                #expect(object.generation == 1)
                let status = try #require(object.status)
                #expect(status.observedGeneration == 1)
                #expect(status.counters == ["desired": 3, "ready": 1])
                #expect(status.conditions.map(\.type) == ["Ready", "Progressing"])
                #expect(status.condition("Ready")?.reason == "ReplicasStarting")
                #expect(status.condition("Ready")?.status == "False")
            }
            let hosts = try decode(APIObjectList.self, try await client.execute(uri: "/api/v1/hosts", method: .get))
            #expect(hosts.items.map(\.name) == ["node-a"])
            #expect(hosts.items[0].labels == ["rack": "a"])
            #expect(hosts.items[0].summary?["uri"] == "qemu+ssh://root@node-a/system")
        }
    }

    @Test("unknown objects, kinds and paths answer 404 naming what is missing")
    func notFound() async throws {
        try await withRouterClient { _, client in
            let object = try await client.execute(uri: "/api/v1/vmsets/nope", method: .get)
            #expect(object.status == .notFound)
            #expect(try decode(APIErrorBody.self, object).error == "VMSet/nope not found")

            let kind = try await client.execute(uri: "/api/v1/widgets", method: .get)
            #expect(kind.status == .notFound)
            #expect(try decode(APIErrorBody.self, kind).error.contains("unknown kind \"widgets\""))

            let path = try await client.execute(uri: "/api/v2/anything/at/all", method: .get)
            #expect(path.status == .notFound)
            #expect(try decode(APIErrorBody.self, path).error.contains("/api/v2/anything/at/all"))
        }
    }

    @Test("delete answers 202, the object then shows deletionRequested, and is enqueued")
    func deleteObject() async throws {
        try await withRouterClient { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML()))
            fixture.controller.resetEnqueued()

            let deleted = try await client.execute(uri: "/api/v1/vmsets/web", method: .delete, headers: fixture.authorized)
            #expect(deleted.status == .accepted)
            #expect(try decode(APIDeleteResult.self, deleted) == APIDeleteResult(kind: "VMSet", name: "web", result: "deletionRequested"))
            #expect(fixture.controller.enqueued == [ObjectReference(kind: .vmSet, name: "web")])

            let object = try decode(APIObject.self, try await client.execute(uri: "/api/v1/vmsets/web", method: .get))
            #expect(object.deletionRequested)
            #expect(object.deletionRequestedAt != nil)
            #expect(object.summary == nil)

            let again = try await client.execute(uri: "/api/v1/vmsets/web", method: .delete, headers: fixture.authorized)
            #expect(again.status == .accepted)
            #expect(try decode(APIDeleteResult.self, again).result == "alreadyRequested")

            let missing = try await client.execute(uri: "/api/v1/vmsets/ghost", method: .delete, headers: fixture.authorized)
            #expect(missing.status == .notFound)
            #expect(try decode(APIErrorBody.self, missing).error == "VMSet/ghost not found")
        }
    }

    @Test("deleting a template a VM set still uses is refused with 409; in one batch with the set it is not")
    func deleteInUse() async throws {
        try await withRouterClient { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(), body: ByteBuffer(string: fleetYAML()))
            let refused = try await client.execute(uri: "/api/v1/templates/alpine", method: .delete, headers: fixture.authorized)
            #expect(refused.status == .conflict)
            let message = try decode(APIErrorBody.self, refused).error
            #expect(message.contains("Template/alpine"))
            #expect(message.contains("VMSet/web"))
            #expect(try await fixture.store.object(kind: .template, name: "alpine")?.deletionRequested == false)

            var headers = fixture.authorized
            headers[.contentType] = "application/json"
            let batch = APIDeleteRequest(objects: [APIReference(kind: "Template", name: "alpine"), APIReference(kind: "vmsets", name: "web"),
                                                   APIReference(kind: "Host", name: "ghost")])
            let response = try await client.execute(uri: "/api/v1/delete", method: .post, headers: headers,
                                                    body: ByteBuffer(data: try APIJSON.encoder().encode(batch)))
            #expect(response.status == .accepted, "\(text(response))")
            #expect(try decode(APIDeleteResponse.self, response).results.map(\.result) == ["deletionRequested", "deletionRequested", "notFound"])
            #expect(try await fixture.store.object(kind: .template, name: "alpine")?.deletionRequested == true)
        }
    }

    @Test("plan answers the controller's plan for the stored objects with the request's over them")
    func plan() async throws {
        let image = TemplateImage(name: "alpine", digest: String(repeating: "ab", count: 32), format: "qcow2",
                                  path: "/srv/images/alpine.qcow2", fileBytes: 1 << 20, virtualBytes: 1 << 30)
        let plan = Plan(
            actions: [Action(id: 0, host: "node-a", kind: .copyTemplate(image)), Action(id: 1, host: "node-a", kind: .startVM("web-0"), dependsOn: [0])],
            unschedulable: [Unschedulable(vm: "web-2", cause: .noRoom, reason: "no host has 512 MiB free")],
            notes: ["Host/node-b is unreachable"])
        try await withRouterClient(controller: FakeController(plan: plan)) { fixture, client in
            _ = try await client.execute(uri: "/api/v1/apply", method: .post, headers: fixture.yamlHeaders(),
                                         body: ByteBuffer(string: hostYAML + "\n---\n" + templateYAML))
            let response = try await client.execute(uri: "/api/v1/plan", method: .post, headers: fixture.yamlHeaders(),
                                                    body: ByteBuffer(string: vmSetYAML(replicas: 7)))
            #expect(response.status == .ok, "\(text(response))")
            let answer = try decode(APIPlan.self, response)
            #expect(answer.actions.map(\.action) == ["copy-template", "start"])
            #expect(answer.actions[1].dependsOn == [0])
            #expect(answer.actions[1].summary == "start web-0 on node-a")
            #expect(answer.unschedulable.first?.vm == "web-2")
            #expect(answer.notes == ["Host/node-b is unreachable"])

            let manifest = try #require(fixture.controller.plannedManifests.last)
            #expect(manifest.hosts.map(\.metadata.name) == ["node-a"])
            #expect(manifest.vmSets.first?.spec.replicas == 7)
            // Planning stores nothing.
            #expect(try await fixture.store.object(kind: .vmSet, name: "web") == nil)
        }
    }

    @Test("the VM list is the controller's, filtered by set")
    func vms() async throws {
        let vms = [
            VMSummary(name: "web-1", vmSet: "web", ordinal: 1, host: "node-b", phase: .running, ready: true),
            VMSummary(name: "api-0", vmSet: "api", ordinal: 0, host: nil, phase: .pending, ready: false, message: "no host fits"),
            VMSummary(name: "web-0", vmSet: "web", ordinal: 0, host: "node-a", phase: .unknown, ready: false),
        ]
        try await withRouterClient(controller: FakeController(vms: vms)) { _, client in
            let all = try decode(APIVMList.self, try await client.execute(uri: "/api/v1/vms", method: .get))
            #expect(all.items.map(\.name) == ["api-0", "web-0", "web-1"])
            let web = try decode(APIVMList.self, try await client.execute(uri: "/api/v1/vms?vmset=web", method: .get))
            #expect(web.items.map(\.name) == ["web-0", "web-1"])
            #expect(web.items[0].phase == .unknown)
        }
    }

    @Test("healthz answers 200 and says this replica's role")
    func healthz() async throws {
        try await withRouterClient { _, client in
            let response = try await client.execute(uri: "/healthz", method: .get)
            #expect(response.status == .ok)
            #expect(text(response) == "ok\nrole: leader\nidentity: local\nleader: local\n")
        }
    }
}
