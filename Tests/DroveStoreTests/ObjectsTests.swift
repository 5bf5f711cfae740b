import DroveManifest
@testable import DroveStore
import Foundation
import Testing

@Suite("Desired objects")
struct ObjectsTests {
    @Test("apply creates each object at generation 1 and keeps its own document", arguments: TestEngine.allCases)
    func applyCreates(_ engine: TestEngine) async throws {
        let clock = TestClock()
        try await withStore(engine, clock: clock) { store, _ in
            let results = try await store.apply(try applied(fleetYAML(labels: "{ tier: front }")))
            #expect(results == [.created, .created, .created])

            let set = try #require(try await store.object(kind: .vmSet, name: "web"))
            #expect(set.generation == 1)
            #expect(set.labels == ["tier": "front"])
            #expect(set.createdAt == clock.date && set.updatedAt == clock.date)
            #expect(!set.deletionRequested)
            #expect(set.manifestText.contains("kind: VMSet"))
            #expect(!set.manifestText.contains("kind: Template"))
            #expect(set.baseDirectory == manifestDirectory)
            #expect(try await store.objects().map(\.reference) == [nodeA, alpine, web])
            #expect(try await store.objects(kind: .template).map(\.reference) == [alpine])
            #expect(try await store.object(kind: .vmSet, name: "nope") == nil)
        }
    }

    @Test("applying the same objects again, even spelled differently, changes nothing", arguments: TestEngine.allCases)
    func reapplyIsUnchanged(_ engine: TestEngine) async throws {
        let clock = TestClock()
        try await withStore(engine, clock: clock) { store, _ in
            _ = try await store.apply(try applied(fleetYAML()))
            let before = try await store.objects()
            clock.advance(seconds: 60)

            #expect(try await store.apply(try applied(fleetYAML())) == [.unchanged, .unchanged, .unchanged])
            // Block style, a comment, and defaults written out: the same object once loaded.
            let respelled = """
                # web servers
                apiVersion: drove/v1
                kind: VMSet
                metadata:
                  name: web
                spec:
                  replicas: 3
                  template: alpine
                  clone: linked
                  runStrategy: Running
                ---
                \(templateYAML)
                """
            #expect(try await store.apply(try applied(respelled)) == [.unchanged, .unchanged])
            #expect(try await store.objects() == before)
        }
    }

    @Test("a changed spec bumps the generation; a label change alone does not", arguments: TestEngine.allCases)
    func changedSpecBumpsGeneration(_ engine: TestEngine) async throws {
        let clock = TestClock()
        try await withStore(engine, clock: clock) { store, _ in
            _ = try await store.apply(try applied(fleetYAML()))
            clock.advance(seconds: 1)

            #expect(try await store.apply(try applied(fleetYAML(replicas: 5))) == [.unchanged, .unchanged, .configured(generation: 2)])
            let set = try #require(try await store.object(kind: .vmSet, name: "web"))
            #expect(set.generation == 2)
            #expect(set.manifestText.contains("replicas: 5"))
            #expect(set.updatedAt == clock.date)
            #expect(set.createdAt < set.updatedAt)

            #expect(try await store.apply(try applied(fleetYAML(replicas: 5, labels: "{ tier: back }")))
                    == [.unchanged, .unchanged, .configured(generation: 2)])
            #expect(try await store.object(kind: .vmSet, name: "web")?.labels == ["tier": "back"])

            #expect(try await store.apply(try applied(fleetYAML(replicas: 4, labels: "{ tier: back }")))
                    == [.unchanged, .unchanged, .configured(generation: 3)])
            #expect(try await store.desiredManifest(policy: .standard).vmSet(named: "web")?.spec.replicas == 4)
        }
    }

    @Test("a batch with a bad object changes nothing", arguments: TestEngine.allCases)
    func applyIsAtomic(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.apply(try applied(fleetYAML()))
            let before = try await store.objects()

            // A VMSet naming a Template that is nowhere: the good change before it is undone too.
            let good = try applied(fleetYAML(replicas: 9))[2]
            let bad = AppliedObject(
                object: .vmSet(VMSet(metadata: ObjectMeta(name: "db"), spec: VMSetSpec(replicas: 3, template: "nope"))),
                manifestText: vmSetYAML("db", template: "nope"), baseDirectory: manifestDirectory)
            await #expect(throws: StoreError.danglingReference(ObjectReference(kind: .vmSet, name: "db"), template: "nope")) {
                try await store.apply([good, bad])
            }
            #expect(try await store.objects() == before)

            // The same object twice in one batch.
            await #expect(throws: StoreError.duplicateInBatch(web)) {
                try await store.apply([good, good])
            }
            #expect(try await store.objects() == before)

            // A Template and the VMSet using it may arrive together.
            let both = try applied([templateYAML.replacingOccurrences(of: "alpine", with: "debian"),
                                    vmSetYAML("db", template: "debian")].joined(separator: "\n---\n"))
            #expect(try await store.apply(both) == [.created, .created])
        }
    }

    @Test("delete marks an object; markPruned removes it with its status", arguments: TestEngine.allCases)
    func deleteThenPrune(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.apply(try applied(fleetYAML()))
            try await store.setStatus(StatusUpdate(observedGeneration: 1), for: web)

            #expect(try await store.delete(kind: .vmSet, name: "web") == .deletionRequested)
            #expect(try await store.delete(kind: .vmSet, name: "web") == .alreadyRequested)
            #expect(try await store.delete(kind: .vmSet, name: "ghost") == .notFound)
            let marked = try #require(try await store.object(kind: .vmSet, name: "web"))
            #expect(marked.deletionRequested)
            let state = try await store.desiredState(policy: .standard)
            #expect(state.manifest.vmSets.isEmpty)
            #expect(state.manifest.templates.map(\.metadata.name) == ["alpine"])
            #expect(state.deleting.map(\.reference) == [web])
            #expect(state.generations == [nodeA: 1, alpine: 1])

            // Pruning something still desired does nothing.
            #expect(try await store.markPruned(kind: .template, name: "alpine") == false)
            #expect(try await store.object(kind: .template, name: "alpine") != nil)

            #expect(try await store.markPruned(kind: .vmSet, name: "web"))
            #expect(try await store.object(kind: .vmSet, name: "web") == nil)
            #expect(try await store.status(kind: .vmSet, name: "web") == nil)
            #expect(try await store.markPruned(kind: .vmSet, name: "web") == false)
            #expect(try await store.desiredState(policy: .standard).deleting.isEmpty)
        }
    }

    @Test("applying an object marked for deletion cancels the deletion, and a later prune leaves it", arguments: TestEngine.allCases)
    func reapplyCancelsDeletion(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.apply(try applied(fleetYAML()))
            try await store.delete(kind: .vmSet, name: "web")
            #expect(try await store.apply(try applied(fleetYAML())) == [.unchanged, .unchanged, .configured(generation: 1)])
            #expect(try await store.object(kind: .vmSet, name: "web")?.deletionRequested == false)
            #expect(try await store.markPruned(kind: .vmSet, name: "web") == false)
            #expect(try await store.desiredManifest(policy: .standard).vmSet(named: "web") != nil)
        }
    }

    @Test("a Template in use cannot be deleted unless its VMSets go in the same request", arguments: TestEngine.allCases)
    func templateInUse(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.apply(try applied(fleetYAML()))
            await #expect(throws: StoreError.inUse(alpine, by: [web])) {
                try await store.delete(kind: .template, name: "alpine")
            }
            #expect(try await store.object(kind: .template, name: "alpine")?.deletionRequested == false)

            #expect(try await store.delete([alpine, web]) == [.deletionRequested, .deletionRequested])
            // Nor can a VMSet come back naming a Template that is being deleted.
            await #expect(throws: StoreError.danglingReference(web, template: "alpine")) {
                try await store.apply([try applied(fleetYAML())[2]])
            }
        }
    }

    @Test("the desired manifest loads back into equal objects, defaults and resolved paths included", arguments: TestEngine.allCases)
    func desiredManifestRoundTrips(_ engine: TestEngine) async throws {
        let yaml = """
            # the lab
            ---
            \(hostYAML)
            ---
            apiVersion: drove/v1
            kind: Host
            metadata: { name: node-b }
            spec: { uri: "qemu:///system", maxParallel: 8, overcommit: { cpu: 2.5 } }
            ...
            ---
            \(templateYAML)
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata:
              name: api
              labels: { tier: back }
            spec:
              replicas: 2
              template: alpine
              resources: { vcpus: 2, memory: 256Mi }
              placement: { hostSelector: { rack: a }, spread: pack, maxPerHost: 1 }
            ---
            \(vmSetYAML())
            """
        let original = try loaded(yaml)
        try await withStore(engine) { store, _ in
            _ = try await store.apply(try applied(yaml))
            let desired = try await store.desiredManifest(policy: .standard)
            #expect(desired.hosts == original.hosts.sorted { $0.metadata.name < $1.metadata.name })
            #expect(desired.templates == original.templates)
            #expect(desired.vmSets == original.vmSets.sorted { $0.metadata.name < $1.metadata.name })
            #expect(desired.templates.first?.spec.source.resolvedPath == "/srv/manifests/images/alpine.qcow2")
            #expect(desired.origins[web]?.file == "store:VMSet/web")
            #expect(desired.vmSet(named: "api")?.spec.placement.maxPerHost == 1)
        }
    }

    @Test("a stored text that declares another object than its row is refused with storeMismatch", arguments: TestEngine.allCases)
    func storedTextMismatch(_ engine: TestEngine) async throws {
        var object = try #require(try applied(hostYAML).first)
        object.manifestText = hostYAML.replacingOccurrences(of: "node-a", with: "node-b")
        try await withStore(engine) { store, _ in
            _ = try await store.apply([object])
            do throws(StoreError) {
                _ = try await store.desiredState(policy: .standard)
                Issue.record("a mismatched stored text loaded")
            } catch {
                if case let .storedManifestInvalid(_, diagnostics) = error {
                    #expect(diagnostics.map(\.code) == [.storeMismatch])
                    #expect(diagnostics.map(\.subject) == ["Host/node-a"])
                } else {
                    Issue.record("expected storedManifestInvalid, got \(error)")
                }
            }
        }
    }

    @Test("objects of several files pair with their own documents")
    func severalSources() throws {
        let sources = [
            ManifestSource(name: "a.yaml", text: hostYAML + "\n---\n" + templateYAML + "\n", baseDirectory: "/a"),
            ManifestSource(name: "b.yaml", text: "%YAML 1.2\n---\n" + vmSetYAML() + "\n...\n", baseDirectory: "/b"),
        ]
        let manifest = try ManifestLoader().load(sources: sources)
        let objects = try AppliedObject.objects(in: manifest, sources: sources)
        #expect(objects.map(\.reference) == [nodeA, alpine, web])
        #expect(objects.map(\.baseDirectory) == ["/a", "/a", "/b"])
        #expect(objects[1].manifestText == "---\n" + templateYAML + "\n")
        #expect(objects[2].manifestText == "%YAML 1.2\n---\n" + vmSetYAML() + "\n...\n")

        // A source left out is named.
        #expect(throws: StoreError.self) { try AppliedObject.objects(in: manifest, sources: [sources[0]]) }
    }

    @Test("cutting documents: markers, directives, CRLF; joined they are the text again")
    func documentSplitting() {
        let text = "a: 1\r\n--- # first\r\nb: |\r\n  text\r\n...\r\nc: 3\r\n%YAML 1.2\r\n---\r\nd: 4"
        let documents = YAMLDocuments.split(text)
        #expect(documents.map(String.init) == ["a: 1\r\n", "--- # first\r\nb: |\r\n  text\r\n...\r\n", "c: 3\r\n",
                                               "%YAML 1.2\r\n---\r\nd: 4"])
        #expect(documents.joined() == text)
        #expect(YAMLDocuments.index(ofLine: 1, in: documents) == 0)
        #expect(YAMLDocuments.index(ofLine: 4, in: documents) == 1)
        #expect(YAMLDocuments.index(ofLine: 6, in: documents) == 2)
        #expect(YAMLDocuments.index(ofLine: 9, in: documents) == 3)
        #expect(YAMLDocuments.index(ofLine: 10, in: documents) == nil)
        // `----` and `---x` are content, not markers.
        #expect(YAMLDocuments.split("a: |\n----\n---x\n").count == 1)
    }

    @Test("the spec fingerprint sees every field, optional and nested ones included")
    func fingerprintCoversFields() throws {
        let base = VMSetSpec(replicas: 1, template: "alpine")
        var changed: [VMSetSpec] = []
        var spec = base; spec.placement.maxPerHost = 2; changed.append(spec)
        spec = base; spec.placement.hostSelector = LabelSelector(["rack": "a"]); changed.append(spec)
        spec = base; spec.networks[0].source = "br0"; changed.append(spec)
        spec = base; spec.networks[0].mac = "52:00:00:00:00:01"; changed.append(spec)
        spec = base; spec.networks.append(Network(type: .network, source: "default")); changed.append(spec)
        spec = base; spec.cloudInit = CloudInit(userData: "#!/bin/sh\necho hi\n"); changed.append(spec)
        spec = base; spec.cloudInit = CloudInit(metaData: ["role": "web"]); changed.append(spec)
        spec = base; spec.readiness = .address; changed.append(spec)
        spec = base; spec.readinessTimeout = 60; changed.append(spec)
        spec = base; spec.resources.cpuMode = .hostModel; changed.append(spec)
        spec = base; spec.updateStrategy.maxUnavailable = 2; changed.append(spec)
        let fingerprint = { (spec: VMSetSpec) in DesiredObject.vmSet(VMSet(metadata: ObjectMeta(name: "x"), spec: spec)).specFingerprint }
        let all = ([base] + changed).map(fingerprint)
        #expect(Set(all).count == all.count)
        // Dictionary order never matters.
        var a = base, b = base
        a.placement.hostSelector = LabelSelector(["rack": "a", "zone": "1", "row": "7"])
        b.placement.hostSelector = LabelSelector(["row": "7", "zone": "1", "rack": "a"])
        #expect(fingerprint(a) == fingerprint(b))
        #expect(fingerprint(base).contains("\"cpuMode\":\"default\""))
    }

    @Test("invalid objects are refused before anything is written", arguments: TestEngine.allCases)
    func invalidObjects(_ engine: TestEngine) async throws {
        try await withStore(engine) { store, _ in
            var object = try applied(fleetYAML())[0]
            object.baseDirectory = "relative/dir"
            await #expect(throws: StoreError.invalidObject(nodeA, reason: "base directory \"relative/dir\" is not absolute")) {
                try await store.apply([object])
            }
            object.baseDirectory = "/srv"
            object.manifestText = "  \n"
            await #expect(throws: StoreError.invalidObject(nodeA, reason: "empty manifest text")) {
                try await store.apply([object])
            }
            #expect(try await store.objects().isEmpty)
        }
    }
}
