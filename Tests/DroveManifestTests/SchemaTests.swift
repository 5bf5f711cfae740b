import DroveManifest
import Foundation
import Testing

@Suite("JSON Schema")
struct SchemaTests {
    func parsed() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(ManifestSchema.json().utf8))
        return try #require(object as? [String: Any])
    }

    func definition(_ name: String) throws -> [String: Any] {
        let defs = try #require(try parsed()["$defs"] as? [String: Any])
        return try #require(defs[name] as? [String: Any])
    }

    @Test("is valid JSON in the 2020-12 dialect, with a oneOf over the four kinds")
    func topLevel() throws {
        let schema = try parsed()
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        let oneOf = try #require(schema["oneOf"] as? [[String: Any]])
        #expect(oneOf.compactMap { $0["$ref"] as? String } == ["#/$defs/Host", "#/$defs/Template", "#/$defs/VMSet", "#/$defs/GitSource"])
        for kind in ["Host", "Template", "VMSet", "GitSource"] {
            let object = try definition(kind)
            let properties = try #require(object["properties"] as? [String: Any])
            #expect((properties["kind"] as? [String: Any])?["const"] as? String == kind)
            #expect((properties["apiVersion"] as? [String: Any])?["const"] as? String == "drove/v1")
            #expect(object["required"] as? [String] == ["apiVersion", "kind", "metadata", "spec"])
        }
    }

    @Test("every object definition is closed")
    func closedObjects() throws {
        let defs = try #require(try parsed()["$defs"] as? [String: Any])
        var objects = 0
        for (name, value) in defs {
            let definition = try #require(value as? [String: Any])
            guard definition["type"] as? String == "object", definition["properties"] != nil else { continue }
            objects += 1
            #expect(definition["additionalProperties"] as? Bool == false, "\(name) must be closed")
        }
        #expect(objects == 20)
    }

    @Test("ranges, enums and defaults match what the loader enforces")
    func constraints() throws {
        let vmSet = try #require(try definition("VMSetSpec")["properties"] as? [String: Any])
        let replicas = try #require(vmSet["replicas"] as? [String: Any])
        #expect(replicas["minimum"] as? Int == 0)
        #expect(replicas["maximum"] as? Int == 10_000)
        #expect(try definition("VMSetSpec")["required"] as? [String] == ["replicas", "template"])
        let clone = try #require(vmSet["clone"] as? [String: Any])
        #expect(clone["enum"] as? [String] == ["linked", "full"])
        #expect(clone["default"] as? String == "linked")
        let host = try #require(try definition("HostSpec")["properties"] as? [String: Any])
        #expect((host["maxParallel"] as? [String: Any])?["default"] as? Int == 4)
        let cpu = try #require((try definition("Overcommit")["properties"] as? [String: Any])?["cpu"] as? [String: Any])
        #expect(cpu["minimum"] as? Double == 0.1)
        #expect(cpu["maximum"] as? Double == 64)
        let cpuMode = try #require((try definition("Resources")["properties"] as? [String: Any])?["cpuMode"] as? [String: Any])
        #expect(cpuMode["enum"] as? [String] == ["default", "host-model", "host-passthrough", "maximum"])
        #expect((try definition("Name"))["pattern"] as? String == "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    }

    @Test("the schema's fields are exactly the fields the loader accepts")
    func fieldsMatchLoader() throws {
        // A document using every field once loads; the schema lists no field beyond those.
        let manifest = try load("""
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: web, labels: {} }
            spec:
              replicas: 1
              template: tiny
              clone: linked
              resources: { vcpus: 1, memory: 64Mi, cpuMode: default }
              networks: [{ type: network, source: default, model: virtio, mac: "52:00:00:00:00:01" }]
              cloudInit: { userData: "#!/bin/sh", metaData: { role: web }, networkConfig: "version: 2" }
              readiness: agent
              readinessTimeout: 1m
              placement: { hostSelector: {}, spread: hosts, maxPerHost: 1 }
              updateStrategy: { maxUnavailable: 1 }
              runStrategy: Running
              start: snapshot

            """ + tinyTemplate)
        #expect(manifest.vmSets.count == 1)
        func keys(_ name: String) throws -> Set<String> {
            Set(try #require(try definition(name)["properties"] as? [String: Any]).keys)
        }
        #expect(try keys("VMSetSpec") == ["replicas", "template", "clone", "resources", "networks", "cloudInit", "readiness",
                                          "readinessTimeout", "placement", "updateStrategy", "runStrategy", "start"])
        #expect(try keys("CloudInit") == ["userData", "metaData", "networkConfig"])
        #expect(try keys("Resources") == ["vcpus", "memory", "cpuMode"])
        #expect(try keys("Network") == ["type", "source", "model", "mac"])
        #expect(try keys("Placement") == ["hostSelector", "spread", "maxPerHost"])
        #expect(try keys("HostSpec") == ["uri", "pool", "domainType", "maxParallel", "maxTransfers", "overcommit", "maxBooting", "networks", "bridges"])
        #expect(try keys("TemplateSpec") == ["source", "format", "precopy", "readiness", "visibility"])
        #expect(try keys("Precopy") == ["policy", "hostSelector"])
    }

    @Test("the rendering is deterministic, with sorted keys")
    func deterministic() {
        let json = ManifestSchema.json()
        #expect(json == ManifestSchema.json())
        #expect(json.hasPrefix("{\n  \"$defs\": {"))
        #expect(json.hasSuffix("}\n"))
    }

    @Test("JSON strings are escaped")
    func escaping() {
        #expect(JSONValue.object(["a\"b": .string("line\nbreak\u{1}")]).rendered() == "{\n  \"a\\\"b\": \"line\\nbreak\\u0001\"\n}\n")
        #expect(JSONValue.array([]).rendered() == "[]\n")
    }
}
