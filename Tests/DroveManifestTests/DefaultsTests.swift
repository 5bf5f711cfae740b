import DroveManifest
import Testing

@Suite("Defaults are applied on load")
struct DefaultsTests {
    @Test("a minimal Host gets every default")
    func hostDefaults() throws {
        let manifest = try load("""
            apiVersion: drove/v1
            kind: Host
            metadata: { name: node-a }
            spec: { uri: "qemu+ssh://root@node-a/system" }
            """)
        let host = try #require(manifest.hosts.first)
        #expect(host.metadata == ObjectMeta(name: "node-a", labels: [:]))
        #expect(host.spec == HostSpec(uri: "qemu+ssh://root@node-a/system", pool: "default", domainType: .auto,
                                      maxParallel: 4, maxTransfers: 1, overcommit: Overcommit(cpu: 4, memory: 1.0)))
    }

    @Test("a minimal Template gets every default, its path made absolute")
    func templateDefaults() throws {
        let manifest = try load("""
            apiVersion: drove/v1
            kind: Template
            metadata: { name: alpine }
            spec: { source: { path: images/alpine.qcow2 } }
            """)
        let template = try #require(manifest.templates.first)
        #expect(template.spec == TemplateSpec(
            source: TemplateSource(path: "images/alpine.qcow2", resolvedPath: "/work/manifests/images/alpine.qcow2"),
            format: .qcow2, precopy: Precopy(policy: .eager, hostSelector: nil), readiness: .running))
    }

    @Test("an absolute template path stays as written")
    func absoluteTemplatePath() throws {
        let manifest = try load("""
            apiVersion: drove/v1
            kind: Template
            metadata: { name: alpine }
            spec: { source: { path: /srv/images/../alpine.qcow2 }, format: raw, precopy: { policy: onDemand } }
            """)
        let template = try #require(manifest.templates.first)
        #expect(template.spec.source.resolvedPath == "/srv/alpine.qcow2")
        #expect(template.spec.format == .raw)
        #expect(template.spec.precopy.policy == .onDemand)
    }

    @Test("a minimal VMSet gets every default")
    func vmSetDefaults() throws {
        let manifest = try load("""
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: web }
            spec: { replicas: 3, template: tiny }

            """ + tinyTemplate)
        let set = try #require(manifest.vmSets.first)
        #expect(set.spec == VMSetSpec(
            replicas: 3, template: "tiny", clone: .linked,
            resources: Resources(vcpus: 1, memory: 128 << 20, cpuMode: .default),
            networks: [Network(type: .user, source: nil, model: "virtio")],
            placement: Placement(hostSelector: LabelSelector(), spread: .hosts, maxPerHost: nil),
            updateStrategy: UpdateStrategy(maxUnavailable: 1), runStrategy: .running))
        #expect(set.spec.placement.hostSelector.matches(["rack": "z"]), "the default selector selects every host")
    }

    @Test("every field of the brief's full example is read")
    func fullExample() throws {
        let manifest = try load("""
            apiVersion: drove/v1
            kind: Host
            metadata: { name: node-1, labels: { rack: a } }
            spec:
              uri: "qemu+unix:///system?socket=/var/lib/drove/lab/node-1/run/libvirt-sock"
              pool: images
              domainType: kvm
              maxParallel: 8
              maxTransfers: 2
              overcommit: { cpu: 2.5, memory: 1.5 }
            ---
            apiVersion: drove/v1
            kind: Template
            metadata: { name: alpine }
            spec:
              source: { path: images/alpine.qcow2 }
              format: qcow2
              precopy: { policy: eager, hostSelector: { rack: a } }
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: web, labels: { app: web } }
            spec:
              replicas: 12
              template: alpine
              clone: full
              resources: { vcpus: 2, memory: 512Mi, cpuMode: host-passthrough }
              networks: [{ type: bridge, source: br0, model: e1000 }]
              placement: { hostSelector: { rack: a }, spread: pack, maxPerHost: 8 }
              updateStrategy: { maxUnavailable: 3 }
              runStrategy: Stopped
            """)
        #expect(manifest.hosts.first?.spec == HostSpec(
            uri: "qemu+unix:///system?socket=/var/lib/drove/lab/node-1/run/libvirt-sock", pool: "images",
            domainType: .kvm, maxParallel: 8, maxTransfers: 2, overcommit: Overcommit(cpu: 2.5, memory: 1.5)))
        #expect(manifest.vmSets.first?.metadata.labels == ["app": "web"])
        #expect(manifest.vmSets.first?.spec == VMSetSpec(
            replicas: 12, template: "alpine", clone: .full,
            resources: Resources(vcpus: 2, memory: 512 << 20, cpuMode: .hostPassthrough),
            networks: [Network(type: .bridge, source: "br0", model: "e1000")],
            placement: Placement(hostSelector: LabelSelector(["rack": "a"]), spread: .pack, maxPerHost: 8),
            updateStrategy: UpdateStrategy(maxUnavailable: 3), runStrategy: .stopped))
    }

    @Test("empty documents and comment-only files are ignored")
    func emptyDocuments() throws {
        let manifest = try load("""
            # nothing here
            ---
            ---
            apiVersion: drove/v1
            kind: Host
            metadata: { name: a }
            spec: { uri: "test:///default" }
            ---
            # trailing comment
            """)
        #expect(manifest.hosts.count == 1)
        #expect(try load("# only a comment\n") == Manifest())
    }
}
