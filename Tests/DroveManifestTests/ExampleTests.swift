import DroveManifest
import Foundation
import Testing

@Suite("The shipped example")
struct ExampleTests {
    let examples = repositoryRoot.appendingPathComponent("manifests/examples").path

    @Test("validates, with every object in reading order")
    func exampleValidates() throws {
        let manifest = try ManifestLoader().load(paths: [examples])
        #expect(manifest.hosts.map(\.metadata.name) == ["node-1", "node-2", "node-3"])
        #expect(manifest.templates.map(\.metadata.name) == ["tiny"])
        #expect(manifest.vmSets.map(\.metadata.name) == ["web", "batch"])
        #expect(manifest.totalReplicas == 10)
    }

    @Test("hosts are the lab's, with defaults filled in")
    func exampleHosts() throws {
        let manifest = try ManifestLoader().load(paths: [examples])
        for (index, host) in manifest.hosts.enumerated() {
            #expect(host.spec.uri == "qemu+unix:///system?socket=/var/lib/drove/lab/node-\(index + 1)/run/libvirt-sock")
            #expect(host.spec.pool == "default")
            #expect(host.spec.domainType == .qemu)
            #expect(host.spec.maxParallel == 4)
            #expect(host.spec.maxTransfers == 1)
            #expect(host.spec.overcommit == Overcommit(cpu: 4, memory: 1.0))
        }
        #expect(manifest.hosts.map { $0.metadata.labels["rack"] } == ["a", "a", "b"])
    }

    @Test("the template path resolves against the manifest's directory")
    func exampleTemplate() throws {
        let manifest = try ManifestLoader().load(paths: [examples])
        let template = try #require(manifest.template(named: "tiny"))
        #expect(template.spec.source.path == "../images/tiny.qcow2")
        #expect(template.spec.source.resolvedPath == repositoryRoot.appendingPathComponent("manifests/images/tiny.qcow2").path)
        #expect(template.spec.format == .qcow2)
        #expect(template.spec.precopy == Precopy(policy: .eager, hostSelector: LabelSelector(["rack": "a"])))
    }

    @Test("VM sets are small guests, one packed on rack a")
    func exampleVMSets() throws {
        let manifest = try ManifestLoader().load(paths: [examples])
        let web = try #require(manifest.vmSet(named: "web"))
        let batch = try #require(manifest.vmSet(named: "batch"))
        #expect(web.spec.replicas == 6)
        #expect(web.spec.resources.memory == 96 << 20)
        #expect(web.spec.placement.spread == .hosts)
        #expect(batch.spec.replicas == 4)
        #expect(batch.spec.resources.memory == 96 << 20)
        #expect(batch.spec.placement.spread == .pack)
        #expect(batch.spec.placement.hostSelector == LabelSelector(["rack": "a"]))
        let rackA = manifest.hosts.filter { batch.spec.placement.hostSelector.matches($0.metadata.labels) }
        #expect(rackA.map(\.metadata.name) == ["node-1", "node-2"])
        for set in manifest.vmSets {
            #expect((64 << 20)...(128 << 20) ~= set.spec.resources.memory)
        }
    }

    @Test("origins point at each object's document")
    func exampleOrigins() throws {
        let manifest = try ManifestLoader().load(paths: [examples])
        let origin = try #require(manifest.origins[ObjectReference(kind: .vmSet, name: "batch")])
        #expect(origin.file == examples + "/vmsets.yaml")
        #expect(origin.line > 1)
        #expect(manifest.origins.count == manifest.references.count)
    }
}
