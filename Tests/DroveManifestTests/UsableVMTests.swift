import DroveManifest
import Foundation
import Testing

@Suite("NICs, cloud-init seeds and readiness in VM sets; what hosts offer")
struct UsableVMTests {
    @Test("networks, cloudInit and readiness are read with their defaults")
    func decodesUsableVMFields() throws {
        let manifest = try load("""
            apiVersion: drove/v1
            kind: Host
            metadata: { name: node-1 }
            spec: { uri: "test:///default", networks: [lab], bridges: [br0], maxBooting: 3 }
            ---

            """ + vmSet("""
            replicas: 1
            template: tiny
            networks:
              - { type: network, source: lab }
              - { type: bridge, source: br0, model: e1000, mac: "52:00:00:00:00:07" }
            cloudInit:
              userData: |
                #!/bin/sh
                echo hello
              metaData: { role: web }
            readiness: address
            readinessTimeout: 2m
            """))
        let spec = try #require(manifest.vmSet(named: "web")).spec
        #expect(spec.networks == [Network(type: .network, source: "lab"), Network(type: .bridge, source: "br0", model: "e1000", mac: "52:00:00:00:00:07")])
        #expect(spec.cloudInit?.userData == "#!/bin/sh\necho hello\n")
        #expect(spec.cloudInit?.metaData == ["role": "web"])
        #expect(spec.readiness == .address)
        #expect(spec.readinessTimeout == 120)
        let host = try #require(manifest.host(named: "node-1")).spec
        #expect(host.networks == ["lab"] && host.bridges == ["br0"] && host.maxBooting == 3)
        #expect(host.offers(spec.networks[0]) && host.offers(spec.networks[1]) && !host.offers(Network(type: .network, source: "other")))

        let plain = try #require(try load(vmSet("replicas: 1\ntemplate: tiny")).vmSet(named: "web")).spec
        #expect(plain.networks == [Network()])
        #expect(plain.cloudInit == nil && plain.readiness == nil && plain.readinessTimeout == VMSetSpec.defaultReadinessTimeout)
    }

    @Test("an empty networks list means a VM without NICs")
    func noNICs() throws {
        #expect(try load(vmSet("replicas: 1\ntemplate: tiny\nnetworks: []")).vmSet(named: "web")?.spec.networks == [])
    }

    @Test("derived MACs are stable, unicast, locally administered and differ per set, ordinal and NIC")
    func derivedMACs() {
        let mac = MACAddress.derived(set: "web", ordinal: 3, nic: 1)
        #expect(mac == MACAddress.derived(set: "web", ordinal: 3, nic: 1))
        #expect(MACAddress.isValid(mac) && mac.hasPrefix("52:"))
        let others = [MACAddress.derived(set: "web", ordinal: 3, nic: 0), MACAddress.derived(set: "web", ordinal: 4, nic: 1),
                      MACAddress.derived(set: "db", ordinal: 3, nic: 1)]
        #expect(!others.contains(mac) && Set(others).count == 3)
    }

    @Test("a fixed MAC that another NIC has is refused where it is written")
    func duplicateMACs() {
        let yaml = vmSet("replicas: 1\ntemplate: tiny\nnetworks: [{ mac: \"52:00:00:00:00:01\" }]") + """
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: db }
            spec:
              replicas: 1
              template: tiny
              networks:
                - { mac: "52:00:00:00:00:01" }
            """
        #expect(diagnostics(yaml) == [
            "m.yaml:22:7: VMSet/db: spec.networks[0].mac: db-0 NIC 0 would have MAC 52:00:00:00:00:01, which web-0 NIC 0 already has",
        ])
        // A fixed MAC that one of the derived ones has is caught the same way.
        let derived = MACAddress.derived(set: "web", ordinal: 0, nic: 0)
        let clash = vmSet("replicas: 1\ntemplate: tiny") + """
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: db }
            spec: { replicas: 1, template: tiny, networks: [{ mac: "\(derived)" }] }
            """
        #expect(codes(clash) == [.duplicateObject])
    }

    @Test("a network no declared host offers is a warning at validation, not an error")
    func networkNotOfferedWarns() throws {
        let yaml = """
            apiVersion: drove/v1
            kind: Host
            metadata: { name: node-1 }
            spec: { uri: "test:///default", networks: [lab] }
            ---

            """ + vmSet("replicas: 1\ntemplate: tiny\nnetworks: [{ type: network, source: lab }, { type: network, source: office }]")
        let result = ManifestLoader(workingDirectory: "/work", policy: testPolicy)
            .check(sources: [ManifestSource(name: "m.yaml", text: yaml, baseDirectory: "/work")])
        #expect(result.manifest != nil && result.diagnostics.isEmpty)
        #expect(result.warnings.map(\.description) == [
            #"m.yaml:13:46: VMSet/web: spec.networks[1].source: no host this set may use offers the network "office" (list it in a Host's spec.networks); its VMs cannot be placed"#,
        ])
        #expect(result.warnings.map(\.code) == [.networkNotOffered])
    }

    @Test("host network and bridge names are checked")
    func hostNames() {
        let yaml = "apiVersion: drove/v1\nkind: Host\nmetadata: { name: n }\nspec: { uri: \"test:///default\", bridges: [\"br 0\", br1, br1] }\n"
        #expect(diagnostics(yaml) == [
            #"m.yaml:4:43: Host/n: spec.bridges[0]: "br 0" is not a valid name: letters, digits, '_', '.' and '-', starting with a letter or digit, at most 15 characters"#,
            #"m.yaml:4:56: Host/n: spec.bridges[2]: "br1" is listed twice"#,
        ])
    }

    @Test("user data and network config are shown only as digests")
    func redaction() {
        // A stored manifest is one document.
        let text = "apiVersion: drove/v1\nkind: VMSet\nmetadata: { name: web }\nspec:\n  replicas: 1\n  template: tiny\n"
            + "  cloudInit:\n    userData: \"password: hunter2\"\n    networkConfig: \"psk: secret\"\n    metaData: { role: web }\n"
        let shown = ManifestRedaction.redacted(text)
        #expect(!shown.contains("hunter2") && !shown.contains("secret"))
        #expect(shown.contains("<redacted sha256:") && shown.contains("role: web"))
        let plain = "apiVersion: drove/v1\nkind: VMSet\nmetadata: { name: web }\nspec: { replicas: 1, template: tiny }\n"
        #expect(ManifestRedaction.redacted(plain) == plain)
    }

    @Test("the seed digest changes with user data, meta-data and network config")
    func seedDigest() {
        let base = CloudInit(userData: "a")
        var others = [CloudInit(userData: "b"), CloudInit(userData: "a", metaData: ["k": "v"]), CloudInit(userData: "a", networkConfig: "")]
        others.append(CloudInit(userData: "a", metaData: ["k": "w"]))
        #expect(Set(([base] + others).map(\.digest)).count == 5)
        #expect(base.digest == CloudInit(userData: "a").digest)
    }
}
