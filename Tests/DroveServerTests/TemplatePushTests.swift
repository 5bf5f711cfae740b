import DroveAPI
import DroveManifest
import DroveServer
import DroveStore
import DroveTemplateStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Testing

/// A fixture whose server has a template store, in a directory of its own, and images made
/// there with the real qemu-img.
struct PushWorld: Sendable {
    let fixture: Fixture
    let blobs: TemplateBlobStore
    let root: String

    var incoming: [String] { (try? FileManager.default.contentsOfDirectory(atPath: blobs.directory + "/incoming")) ?? [] }
    var stored: [String] { (try? FileManager.default.contentsOfDirectory(atPath: blobs.directory + "/sha256")) ?? [] }

    func application(maxTemplateBytes: UInt64 = 1 << 30, withStore: Bool = true) throws -> some ApplicationProtocol {
        var configuration = fixture.configuration
        configuration.maxTemplateBytes = maxTemplateBytes
        return try buildApplication(configuration: configuration, store: fixture.store, controller: fixture.controller,
                                    registry: fixture.registry, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                    templateStore: withStore ? blobs : nil)
    }

    /// `qemu-img create -q -f FORMAT OPTIONS NAME [SIZE]` in the images directory; returns the image's bytes.
    func image(_ name: String, _ format: String, _ size: String?, _ options: [String] = []) throws -> ByteBuffer {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-img")
        process.arguments = ["create", "-q", "-f", format] + options + [name] + (size.map { [$0] } ?? [])
        process.currentDirectoryURL = URL(fileURLWithPath: root + "/images")
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        return ByteBuffer(data: try Data(contentsOf: URL(fileURLWithPath: root + "/images/" + name)))
    }

    var headers: HTTPFields { [.authorization: "Bearer \(Fixture.token)", .contentType: "application/octet-stream"] }

    /// Every desired Template, as the controller would load it.
    func templates() async throws -> [Template] {
        try await fixture.store.desiredManifest(policy: fixture.configuration.manifestPolicy).templates
    }

    /// Nothing of a refused or cut-off push: no blob, no upload file, no Template.
    func expectNothingKept(_ comment: Comment? = nil) async throws {
        #expect(stored.isEmpty, comment)
        #expect(incoming.isEmpty, comment)
        #expect(try await fixture.store.objects(kind: .template).isEmpty, comment)
    }
}

func withPushWorld<T>(_ body: (PushWorld) async throws -> T) async throws -> T {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("drove-push-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: root + "/images", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let blobs = try TemplateBlobStore(directory: root + "/templates", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    return try await withFixture(policy: ManifestPolicy(templateFiles: .anywhere, templateStore: blobs.directory)) { fixture in
        try await body(PushWorld(fixture: fixture, blobs: blobs, root: root))
    }
}

@Suite("Template push (PUT /api/v1/templates/NAME/image)")
struct TemplatePushTests {
    @Test("a push stores the image and creates the Template pointing at its blob")
    func pushCreatesTemplate() async throws {
        try await withPushWorld { world in
            let image = try world.image("alpine.qcow2", "qcow2", "16M", ["-o", "preallocation=metadata"])
            // Larger than the API's 64 KiB body limit here: a push has its own.
            #expect(image.readableBytes > world.fixture.configuration.maxBodyBytes)
            try await world.application().test(.router) { client in
                let response = try await client.execute(uri: "/api/v1/templates/alpine/image?format=qcow2&visibility=shared", method: .put,
                                                        headers: world.headers, body: image)
                #expect(response.status == .created)
                let answer = try decode(APITemplatePushResponse.self, response)
                #expect(answer.name == "alpine")
                #expect(answer.result == "created")
                #expect(answer.format == "qcow2")
                #expect(answer.size == UInt64(image.readableBytes))
                #expect(answer.virtualSize == 16 << 20)
                let hex = try #require(TemplateBlobStore.hex(answer.digest))
                #expect(world.stored == [hex])

                let template = try #require(try await world.templates().first)
                #expect(template.metadata.name == "alpine")
                #expect(template.spec.source.blobDigest == answer.digest)
                #expect(template.spec.source.resolvedPath == world.blobs.directory + "/sha256/" + hex)
                #expect(template.spec.visibility == .shared)
                #expect(world.fixture.controller.enqueued.contains(ObjectReference(kind: .template, name: "alpine")))

                let listed = try decode(APIObject.self, try await client.execute(uri: "/api/v1/templates/alpine", method: .get))
                #expect(listed.summary?["blob"] == answer.digest)
                #expect(listed.summary?["visibility"] == "shared")
            }
        }
    }

    @Test("the same bytes pushed twice are stored once; pushing them again to the same name changes nothing")
    func sameBytesTwice() async throws {
        try await withPushWorld { world in
            let image = try world.image("a.qcow2", "qcow2", "4M")
            try await world.application().test(.router) { client in
                var digests: [String] = []
                for (name, expected) in [("one", "created"), ("two", "created"), ("two", "unchanged")] {
                    let response = try await client.execute(uri: "/api/v1/templates/\(name)/image", method: .put, headers: world.headers, body: image)
                    let answer = try decode(APITemplatePushResponse.self, response)
                    #expect(answer.result == expected, "\(name)")
                    #expect(response.status == (expected == "created" ? .created : .ok))
                    digests.append(answer.digest)
                }
                #expect(Set(digests).count == 1)
                #expect(world.stored.count == 1)
                #expect(world.incoming.isEmpty)
                #expect(try await world.templates().map(\.spec.source.blobDigest) == [digests[0], digests[0]])
            }
        }
    }

    @Test("a push cut off midway leaves no blob, no upload file and no Template")
    func cutOffPush() async throws {
        try await withPushWorld { world in
            try await world.application().test(.live) { client in
                let port = try #require(client.port)
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(host: "127.0.0.1", port: port) { channel in
                        channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                    }
                try await channel.executeThenClose { _, outbound in
                    try await outbound.write(ByteBuffer(string: "PUT /api/v1/templates/alpine/image?format=raw HTTP/1.1\r\nHost: localhost\r\n"
                        + "Authorization: Bearer \(Fixture.token)\r\nContent-Length: 1000000\r\n\r\n"))
                    try await outbound.write(ByteBuffer(repeating: 7, count: 300_000))
                    // The upload is under way before the client goes away.
                    try await waitUntil("the upload to start") { world.incoming.count == 1 }
                }
                try await waitUntil("the cut-off upload to be removed") { world.incoming.isEmpty }
                try await world.expectNothingKept()
            }
        }
    }

    @Test("an image with a backing file or an external data file is refused with 422 naming the cause")
    func refusesDependentImages() async throws {
        try await withPushWorld { world in
            _ = try world.image("base.qcow2", "qcow2", "4M")
            let overlay = try world.image("overlay.qcow2", "qcow2", nil, ["-b", "base.qcow2", "-F", "qcow2"])
            let split = try world.image("split.qcow2", "qcow2", "4M", ["-o", "data_file=split.data"])
            try await world.application().test(.router) { client in
                for (image, cause) in [(overlay, "it has a backing file (base.qcow2)"), (split, "external data file (split.data)")] {
                    let response = try await client.execute(uri: "/api/v1/templates/alpine/image", method: .put, headers: world.headers, body: image)
                    #expect(response.status == .unprocessableContent)
                    let error = try decode(APIErrorBody.self, response).error
                    #expect(error.hasPrefix("Template/alpine: the image is refused: "), "\(error)")
                    #expect(error.contains(cause), "\(error)")
                    try await world.expectNothingKept("\(cause)")
                }
                let raw = try world.image("disk.raw", "raw", "1M")
                let mismatch = try await client.execute(uri: "/api/v1/templates/alpine/image?format=qcow2", method: .put, headers: world.headers, body: raw)
                #expect(mismatch.status == .unprocessableContent)
                #expect(try decode(APIErrorBody.self, mismatch).error.contains("push it with format=raw"))
                try await world.expectNothingKept()
            }
        }
    }

    @Test("a body declared over the size limit is refused with 413 before anything is stored")
    func sizeLimit() async throws {
        try await withPushWorld { world in
            let image = try world.image("a.qcow2", "qcow2", "4M")
            try await world.application(maxTemplateBytes: 100_000).test(.router) { client in
                let response = try await client.execute(uri: "/api/v1/templates/alpine/image", method: .put, headers: world.headers, body: image)
                #expect(response.status == .contentTooLarge)
                #expect(try decode(APIErrorBody.self, response).error.contains("over the limit of 100000 bytes"))
                try await world.expectNothingKept()
            }
        }
    }

    @Test("bad names, formats and visibilities are refused with 400; without a store, 501; without a token, 401")
    func refusals() async throws {
        try await withPushWorld { world in
            let image = ByteBuffer(repeating: 0, count: 512)
            try await world.application().test(.router) { client in
                for uri in ["/api/v1/templates/Alpine/image", "/api/v1/templates/a/image?format=vmdk", "/api/v1/templates/a/image?visibility=public"] {
                    let response = try await client.execute(uri: uri, method: .put, headers: world.headers, body: image)
                    #expect(response.status == .badRequest, "\(uri)")
                }
                let vmset = try await client.execute(uri: "/api/v1/vmsets/a/image", method: .put, headers: world.headers, body: image)
                #expect(vmset.status == .notFound)
                let anonymous = try await client.execute(uri: "/api/v1/templates/a/image", method: .put, headers: [:], body: image)
                #expect(anonymous.status == .unauthorized)
            }
            try await world.application(withStore: false).test(.router) { client in
                let response = try await client.execute(uri: "/api/v1/templates/a/image", method: .put, headers: world.headers, body: image)
                #expect(response.status == .notImplemented)
                #expect(try decode(APIErrorBody.self, response).error.contains("no template store"))
            }
            try await world.expectNothingKept()
        }
    }

    @Test("garbage collection removes a blob no Template names and keeps one a Template names")
    func garbageCollection() async throws {
        try await withPushWorld { world in
            let kept = try world.image("a.qcow2", "qcow2", "4M")
            try await world.application().test(.router) { client in
                let response = try await client.execute(uri: "/api/v1/templates/alpine/image", method: .put, headers: world.headers, body: kept)
                #expect(response.status == .created)
            }
            let orphan = try world.blobs.beginUpload(format: .raw, limit: 1 << 20)
            try await orphan.write(Data(repeating: 1, count: 4096))
            let orphanDigest = try await orphan.finish { $0.digest }
            #expect(world.stored.count == 2)

            let collector = TemplateGarbageCollector(blobs: world.blobs, store: world.fixture.store,
                                                     logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            #expect(try await collector.collect() == [orphanDigest])
            let template = try #require(try await world.templates().first)
            #expect(world.stored == [try #require(TemplateBlobStore.hex(template.spec.source.blobDigest ?? ""))])
            #expect(try await collector.collect().isEmpty)
        }
    }
}

/// Polls `condition` every 20 ms for up to ten seconds.
func waitUntil(_ what: String, _ condition: @escaping @Sendable () -> Bool) async throws {
    try await withTimeout(10, what) {
        while !condition() { try await Task.sleep(for: .milliseconds(20)) }
    }
}

@Suite("Template push and users")
struct TemplatePushAccessTests {
    static func pushHeaders(_ token: String) -> HTTPFields {
        [.authorization: "Bearer \(token)", .contentType: "application/octet-stream"]
    }

    @Test("a deployer's push is its own private template: others neither see, use nor overwrite it, and a viewer may not push")
    func pushesHaveOwners() async throws {
        try await withPushWorld { world in
            let image = try world.image("tiny.qcow2", "qcow2", "1M")
            try await world.application().test(.router) { client in
                let fixture = world.fixture
                let alice = try await AccessTests.addUser("alice", .deployer, fixture, client)
                let bob = try await AccessTests.addUser("bob", .deployer, fixture, client)
                let vic = try await AccessTests.addUser("vic", .viewer, fixture, client)

                let pushed = try await client.execute(uri: "/api/v1/templates/tiny/image", method: .put, headers: Self.pushHeaders(alice), body: image)
                #expect(pushed.status == .created, "\(text(pushed))")
                let digest = try decode(APITemplatePushResponse.self, pushed).digest
                #expect(try await fixture.store.object(kind: .template, name: "tiny")?.owner == "alice")

                // Bob: not listed, 404, and his set may not use it, nor may his template name its blob.
                let list = try decode(APIObjectList.self, try await client.execute(uri: "/api/v1/templates", method: .get,
                                                                                    headers: AccessTests.headers(bob, yaml: false)))
                #expect(list.items.isEmpty)
                let set = try await client.execute(uri: "/api/v1/apply", method: .post, headers: AccessTests.headers(bob),
                                                   body: ByteBuffer(string: vmSetYAML("bob-web", template: "tiny")))
                #expect(set.status == .forbidden)
                let borrowed = try await client.execute(uri: "/api/v1/apply", method: .post, headers: AccessTests.headers(bob), body: ByteBuffer(string: """
                    apiVersion: drove/v1
                    kind: Template
                    metadata: { name: borrowed }
                    spec: { source: { blob: "\(digest)" } }
                    """))
                #expect(borrowed.status == .forbidden)
                #expect(text(borrowed).contains("in no template you may use"), "\(text(borrowed))")
                // Nor by declaring his own stored template again with her image in the same request.
                let own = try world.image("bobs.qcow2", "qcow2", "1M", ["-o", "cluster_size=4096"])
                #expect(try await client.execute(uri: "/api/v1/templates/bobs/image", method: .put, headers: Self.pushHeaders(bob),
                                                 body: own).status == .created)
                let redeclared = try await client.execute(uri: "/api/v1/apply", method: .post, headers: AccessTests.headers(bob), body: ByteBuffer(string: """
                    apiVersion: drove/v1
                    kind: Template
                    metadata: { name: bobs }
                    spec: { source: { blob: "\(digest)" } }
                    """))
                #expect(redeclared.status == .forbidden, "\(text(redeclared))")

                // Bob pushing over alice's name, and vic pushing at all: refused before anything is stored.
                let other = try world.image("other.qcow2", "qcow2", "2M")
                let over = try await client.execute(uri: "/api/v1/templates/tiny/image", method: .put, headers: Self.pushHeaders(bob), body: other)
                #expect(over.status == .forbidden)
                #expect(text(over).contains("belongs to user alice"))
                let viewer = try await client.execute(uri: "/api/v1/templates/mine/image", method: .put, headers: Self.pushHeaders(vic), body: other)
                #expect(viewer.status == .forbidden)
                #expect(world.stored.contains(String(digest.dropFirst("sha256:".count))) && world.stored.count == 2)
                #expect(world.incoming.isEmpty)

                // Shared: bob may use it now.
                let shared = try await client.execute(uri: "/api/v1/templates/tiny/image?visibility=shared", method: .put,
                                                      headers: Self.pushHeaders(alice), body: image)
                #expect(shared.status == .ok)
                let now = try await client.execute(uri: "/api/v1/apply", method: .post, headers: AccessTests.headers(bob),
                                                   body: ByteBuffer(string: vmSetYAML("bob-web", template: "tiny")))
                #expect(now.status == .ok, "\(text(now))")
            }
        }
    }
}
