import DroveManifest
import Foundation
import Testing

/// One kind of mistake, and exactly what the loader must say about it, and with which codes.
struct ErrorCase: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    var expected: [String]
    var codes: [DiagnosticCode]
    var testDescription: String { name }
}

/// A VMSet whose `spec` lines are `specLines` (indented by two), followed by a Template `tiny`.
/// Line 6 is the first spec line.
func vmSet(_ specLines: String) -> String {
    """
    apiVersion: drove/v1
    kind: VMSet
    metadata:
      name: web
    spec:
    \(specLines.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))

    """ + tinyTemplate
}

@Suite("Diagnostics name the file, line, column, object and field")
struct DiagnosticTests {
    static let cases: [ErrorCase] = [
        ErrorCase(name: "unknown field, with a suggestion", yaml: vmSet("replicas: 2\ntemplate: tiny\nreplica: 3"), expected: [
            #"m.yaml:8:3: VMSet/web: spec.replica: unknown field "replica" (did you mean "replicas"?)"#,
        ], codes: [.unknownField]),
        ErrorCase(name: "unknown top-level field", yaml: vmSet("replicas: 2\ntemplate: tiny") + "status: {}\n", expected: [
            #"m.yaml:13:1: Template/tiny: status: unknown field "status" (allowed: apiVersion, kind, metadata, spec)"#,
        ], codes: [.unknownField]),
        ErrorCase(name: "string where an integer belongs", yaml: vmSet("replicas: many\ntemplate: tiny"), expected: [
            #"m.yaml:6:13: VMSet/web: spec.replicas: expected an integer, got string "many""#,
        ], codes: [.wrongType]),
        ErrorCase(name: "quoted number", yaml: vmSet("replicas: \"3\"\ntemplate: tiny"), expected: [
            #"m.yaml:6:13: VMSet/web: spec.replicas: expected an integer, got the string "3" (remove the quotes)"#,
        ], codes: [.wrongType]),
        ErrorCase(name: "octal-looking number", yaml: vmSet("replicas: 010\ntemplate: tiny"), expected: [
            "m.yaml:6:13: VMSet/web: spec.replicas: expected a decimal integer, got 010",
        ], codes: [.invalidValue]),
        ErrorCase(name: "number out of range", yaml: vmSet("replicas: 10001\ntemplate: tiny"), expected: [
            "m.yaml:6:13: VMSet/web: spec.replicas: 10001 is out of range 0..10000",
        ], codes: [.outOfRange]),
        ErrorCase(name: "missing required field, reported where its mapping starts", yaml: vmSet("template: tiny"), expected: [
            "m.yaml:6:3: VMSet/web: spec.replicas: required field is missing",
        ], codes: [.missingField]),
        ErrorCase(name: "bad enum value, with a suggestion", yaml: vmSet("replicas: 1\ntemplate: tiny\nrunStrategy: running"), expected: [
            #"m.yaml:8:16: VMSet/web: spec.runStrategy: "running" is not one of Running, Stopped (did you mean "Running"?)"#,
        ], codes: [.invalidValue]),
        ErrorCase(name: "null value", yaml: vmSet("replicas: 1\ntemplate: tiny\nclone:"), expected: [
            "m.yaml:8:9: VMSet/web: spec.clone: expected a string, got null",
        ], codes: [.wrongType]),
        ErrorCase(name: "wrong container type", yaml: vmSet("replicas: 1\ntemplate: tiny\nresources: [1, 2]"), expected: [
            "m.yaml:8:14: VMSet/web: spec.resources: expected a mapping, got a list",
        ], codes: [.wrongType]),
        ErrorCase(name: "bad quantity", yaml: vmSet("replicas: 1\ntemplate: tiny\nresources: { memory: 1.5Gi }"), expected: [
            #"m.yaml:8:24: VMSet/web: spec.resources.memory: "1.5Gi" is not a quantity: it must be a whole number (use a smaller unit, e.g. 1536Mi for 1.5Gi)"#,
        ], codes: [.invalidValue]),
        ErrorCase(name: "quantity out of range", yaml: vmSet("replicas: 1\ntemplate: tiny\nresources: { memory: 8Mi }"), expected: [
            "m.yaml:8:24: VMSet/web: spec.resources.memory: 8Mi is out of range 16Mi..1Ti",
        ], codes: [.outOfRange]),
        ErrorCase(name: "network source missing for a bridge", yaml: vmSet("replicas: 1\ntemplate: tiny\nnetworks: [{ type: bridge }]"), expected: [
            "m.yaml:8:14: VMSet/web: spec.networks[0].source: required when type is bridge (the libvirt bridge to attach to)",
        ], codes: [.missingField]),
        ErrorCase(name: "network source given for user networking", yaml: vmSet("replicas: 1\ntemplate: tiny\nnetworks: [{ source: br0 }]"), expected: [
            "m.yaml:8:24: VMSet/web: spec.networks[0].source: not allowed when type is user (user networking has no source)",
        ], codes: [.invalidValue]),
        ErrorCase(name: "bridge name with a path separator", yaml: vmSet("replicas: 1\ntemplate: tiny\nnetworks: [{ type: bridge, source: ../br0 }]"), expected: [
            #"m.yaml:8:38: VMSet/web: spec.networks[0].source: "../br0" is not a valid bridge name: letters, digits, '_', '.' and '-', starting with a letter or digit, at most 15 characters"#,
        ], codes: [.invalidValue]),
        ErrorCase(name: "bridge name with shell metacharacters", yaml: vmSet("replicas: 1\ntemplate: tiny\nnetworks: [{ type: bridge, source: \"br0;reboot\" }]"), expected: [
            #"m.yaml:8:38: VMSet/web: spec.networks[0].source: "br0;reboot" is not a valid bridge name: letters, digits, '_', '.' and '-', starting with a letter or digit, at most 15 characters"#,
        ], codes: [.invalidValue]),
        ErrorCase(name: "a fixed MAC shared by replicas", yaml: vmSet("replicas: 2\ntemplate: tiny\nnetworks: [{ mac: \"52:00:00:00:00:01\" }]"), expected: [
            "m.yaml:8:14: VMSet/web: spec.networks[0].mac: a fixed mac would be shared by all 2 replicas; leave it out (each NIC gets a stable MAC of its own) or set replicas: 1",
        ], codes: [.invalidValue]),
        ErrorCase(name: "a multicast MAC", yaml: vmSet("replicas: 1\ntemplate: tiny\nnetworks: [{ mac: \"01:00:5e:00:00:01\" }]"), expected: [
            #"m.yaml:8:21: VMSet/web: spec.networks[0].mac: "01:00:5e:00:00:01" is not a unicast MAC address written aa:bb:cc:dd:ee:ff in lowercase hex"#,
        ], codes: [.invalidValue]),
        ErrorCase(name: "user data over 64 KiB", yaml: vmSet("replicas: 1\ntemplate: tiny\ncloudInit: { userData: \"\(String(repeating: "x", count: 65537))\" }"), expected: [
            "m.yaml:8:26: VMSet/web: spec.cloudInit.userData: 65537 bytes; at most 65536 (64 KiB) are allowed in a NoCloud seed",
        ], codes: [.outOfRange]),
        ErrorCase(name: "meta-data that is Drove's to write", yaml: vmSet("replicas: 1\ntemplate: tiny\ncloudInit: { metaData: { local-hostname: x } }"), expected: [
            "m.yaml:8:28: VMSet/web: spec.cloudInit.metaData.local-hostname: local-hostname is Drove's to write (<set>-<ordinal>)",
        ], codes: [.invalidValue]),
        ErrorCase(name: "readiness timeout out of range", yaml: vmSet("replicas: 1\ntemplate: tiny\nreadinessTimeout: 5s"), expected: [
            #"m.yaml:8:21: VMSet/web: spec.readinessTimeout: "5s" is out of range 10s..24h"#,
        ], codes: [.outOfRange]),
        ErrorCase(name: "bad name", yaml: "apiVersion: drove/v1\nkind: Host\nmetadata: { name: Node_1 }\nspec: { uri: \"test:///default\" }\n", expected: [
            #"m.yaml:3:19: Host/Node_1: metadata.name: "Node_1" is not a valid name: must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"#,
        ], codes: [.invalidName]),
        ErrorCase(name: "bad label key and value", yaml: "apiVersion: drove/v1\nkind: Host\nmetadata:\n  name: a\n  labels:\n    example.com/rack: \"a b\"\n    -x: y\nspec: { uri: \"test:///default\" }\n", expected: [
            #"m.yaml:6:23: Host/a: metadata.labels["example.com/rack"]: "a b" is not a valid label value: must be empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"#,
            #"m.yaml:7:5: Host/a: metadata.labels["-x"]: "-x" is not a valid label key: must be an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"#,
        ], codes: [.invalidName, .invalidName]),
        ErrorCase(name: "label value that YAML reads as a boolean", yaml: "apiVersion: drove/v1\nkind: Host\nmetadata: { name: a, labels: { ssd: yes } }\nspec: { uri: \"test:///default\" }\n", expected: [
            #"m.yaml:3:37: Host/a: metadata.labels.ssd: expected a string, got boolean yes (quote it: "yes")"#,
        ], codes: [.wrongType]),
        ErrorCase(name: "URI without a scheme", yaml: "apiVersion: drove/v1\nkind: Host\nmetadata: { name: a }\nspec: { uri: node-a }\n", expected: [
            #"m.yaml:4:14: Host/a: spec.uri: "node-a" is not a libvirt connection URI (expected e.g. qemu+ssh://root@node-a/system)"#,
        ], codes: [.refusedByPolicy]),
        ErrorCase(name: "unknown kind, with a suggestion; its spec is not read", yaml: "apiVersion: drove/v1\nkind: VmSet\nmetadata: { name: a }\nspec: { anything: 1 }\n", expected: [
            #"m.yaml:2:7: VmSet/a: kind: unknown kind "VmSet" (did you mean "VMSet"?)"#,
        ], codes: [.unknownKind]),
        ErrorCase(name: "unknown apiVersion", yaml: "apiVersion: drove/v2\nkind: Host\nmetadata: { name: a }\nspec: { uri: \"test:///default\" }\n", expected: [
            #"m.yaml:1:13: Host/a: apiVersion: unsupported apiVersion "drove/v2" (use drove/v1)"#,
        ], codes: [.invalidValue]),
        ErrorCase(name: "no kind and no name", yaml: "apiVersion: drove/v1\nmetadata: {}\n", expected: [
            "m.yaml:1:1: <unknown kind>: kind: required field is missing",
            "m.yaml:2:11: <unknown kind>: metadata.name: required field is missing",
        ], codes: [.missingField, .missingField]),
        ErrorCase(name: "kind known, name missing", yaml: "apiVersion: drove/v1\nkind: Host\nmetadata: { labels: {} }\nspec: { uri: \"test:///default\" }\n", expected: [
            "m.yaml:3:11: Host/<unnamed>: metadata.name: required field is missing",
        ], codes: [.missingField]),
        ErrorCase(name: "a document that is not a mapping", yaml: "- a\n- b\n", expected: [
            "m.yaml:1:1: <unknown kind>: expected a mapping with apiVersion, kind, metadata and spec, got a list",
        ], codes: [.wrongType]),
        ErrorCase(name: "YAML syntax error ends the file", yaml: "apiVersion: drove/v1\nkind: Host\nmetadata: { name: a\nspec: {}\n", expected: [
            "m.yaml:4:5: <unknown kind>: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping at line 3, column 11)",
        ], codes: [.syntax]),
        ErrorCase(name: "tab indentation", yaml: "apiVersion: drove/v1\nkind: Host\nmetadata:\n\tname: a\n", expected: [
            "m.yaml:4:1: <unknown kind>: YAML syntax error: found character that cannot start any token (while scanning for the next token at line 4, column 1)",
        ], codes: [.syntax]),
        ErrorCase(name: "merge keys are not supported", yaml: vmSet("replicas: 1\ntemplate: tiny\nresources:\n  <<: { vcpus: 1 }"), expected: [
            #"m.yaml:9:5: VMSet/web: spec.resources["<<"]: merge keys (<<) are not supported; write the fields out"#,
        ], codes: [.unsupportedYAML]),
        ErrorCase(name: "a key written twice", yaml: vmSet("replicas: 1\ntemplate: tiny\nreplicas: 2"), expected: [
            #"m.yaml:8:3: VMSet/web: spec.replicas: duplicate key "replicas" (first at line 6, column 3)"#,
        ], codes: [.duplicateKey]),
        ErrorCase(name: "an object declared twice", yaml: vmSet("replicas: 1\ntemplate: tiny") + tinyTemplate, expected: [
            #"m.yaml:16:19: Template/tiny: metadata.name: Template "tiny" is already declared at m.yaml:11:19"#,
        ], codes: [.duplicateObject]),
        ErrorCase(name: "a template declared nowhere", yaml: vmSet("replicas: 1\ntemplate: tiney"), expected: [
            #"m.yaml:7:13: VMSet/web: spec.template: Template "tiney" is not declared (did you mean "tiny"?)"#,
        ], codes: [.templateNotDeclared]),
        ErrorCase(name: "a template reference that is not a name", yaml: vmSet("replicas: 1\ntemplate: Tiny"), expected: [
            #"m.yaml:7:13: VMSet/web: spec.template: "Tiny" is not a valid Template name: must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"#,
        ], codes: [.invalidName]),
        ErrorCase(name: "an alias inside an anchored collection", yaml: "a: &a [x]\nb: &b [*a]\n", expected: [
            "m.yaml:2:8: <unknown kind>: an alias inside an anchored collection is not allowed (it lets aliases nest and multiply, as in an alias bomb); aliases may only refer to anchored nodes that contain no aliases",
        ], codes: [.unsupportedYAML]),
        ErrorCase(name: "nesting too deep", yaml: "a: " + String(repeating: "[", count: 65) + String(repeating: "]", count: 65) + "\n", expected: [
            "m.yaml:1:67: <unknown kind>: nesting deeper than 64 levels; refusing to parse",
        ], codes: [.tooDeep]),
        ErrorCase(name: "too many nodes", yaml: "a: [" + Array(repeating: "1", count: 10_001).joined(separator: ",") + "]\n", expected: [
            "m.yaml:1:20001: <unknown kind>: document has more than 10000 nodes; refusing it",
        ], codes: [.tooLarge]),
    ]

    @Test("each kind of mistake", arguments: cases)
    func eachKindOfMistake(_ errorCase: ErrorCase) {
        #expect(diagnostics(errorCase.yaml) == errorCase.expected)
        #expect(codes(errorCase.yaml) == errorCase.codes)
    }

    @Test("the brief's example renders exactly")
    func briefExample() {
        let yaml = """
            apiVersion: drove/v1
            kind: VMSet
            metadata:
              name: web
              labels:
                app: web
            spec:
              replicas: 2
              template: tiny
              # resources of each VM
              resources:
                  vcpus: 1
                  cpuMode: default
                  memory: 512MB

            """ + tinyTemplate
        #expect(diagnostics(yaml, name: "manifests/web.yaml") == [
            #"manifests/web.yaml:14:15: VMSet/web: spec.resources.memory: "512MB" is not a quantity (use e.g. 512Mi, 2Gi)"#,
        ])
    }

    @Test("all the problems of a file are reported at once, in order")
    func allErrorsAtOnce() {
        let yaml = """
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: web }
            spec:
              replicas: -1
              template: tiny
              clone: thin
              resources: { vcpus: 0, memory: 1Gb }
            ---
            apiVersion: drove/v1
            kind: Host
            metadata: { name: h }
            spec: { uri: "test:///default", maxParallel: 65, color: red }

            """ + tinyTemplate
        #expect(diagnostics(yaml) == [
            "m.yaml:5:13: VMSet/web: spec.replicas: -1 is out of range 0..10000",
            #"m.yaml:7:10: VMSet/web: spec.clone: "thin" is not one of linked, full"#,
            "m.yaml:8:23: VMSet/web: spec.resources.vcpus: 0 is out of range 1..256",
            #"m.yaml:8:34: VMSet/web: spec.resources.memory: "1Gb" is not a quantity (use e.g. 512Mi, 2Gi)"#,
            "m.yaml:13:46: Host/h: spec.maxParallel: 65 is out of range 1..64",
            #"m.yaml:13:50: Host/h: spec.color: unknown field "color" (allowed: uri, pool, domainType, maxParallel, maxTransfers, overcommit, maxBooting, networks, bridges)"#,
        ])
    }

    @Test("a duplicate key is reported where it repeats, and the rest of the file is still read")
    func duplicateKeys() {
        let yaml = vmSet("replicas: 1\ntemplate: tiny\nreplicas: 2\nresources: { vcpus: 1, vcpus: 2, memory: 1Gb }")
        #expect(diagnostics(yaml) == [
            #"m.yaml:8:3: VMSet/web: spec.replicas: duplicate key "replicas" (first at line 6, column 3)"#,
            #"m.yaml:9:26: VMSet/web: spec.resources.vcpus: duplicate key "vcpus" (first at line 9, column 16)"#,
            #"m.yaml:9:44: VMSet/web: spec.resources.memory: "1Gb" is not a quantity (use e.g. 512Mi, 2Gi)"#,
        ])
    }

    @Test("past 32 duplicate keys, the file ends with one diagnostic")
    func manyDuplicateKeys() {
        let yaml = "apiVersion: drove/v1\nkind: Host\nmetadata: { name: a }\nspec:\n  uri: \"test:///default\"\n"
            + (0..<40).map { "  pool: p\($0)\n" }.joined()
        #expect(diagnostics(yaml) == [
            #"m.yaml:38:3: <unknown kind>: duplicate key "pool" (too many duplicate keys in this file to read on)"#,
        ])
    }

    @Test("a duplicate quoted key is found too")
    func duplicateQuotedKey() {
        let yaml = "apiVersion: drove/v1\nkind: Host\nmetadata: { name: a, labels: { rack: a, \"rack\": b } }\nspec: { uri: \"test:///default\" }\n"
        #expect(diagnostics(yaml) == [
            #"m.yaml:3:41: Host/a: metadata.labels.rack: duplicate key "rack" (first at line 3, column 32)"#,
        ])
    }

    @Test("a dangling template reference names the template and suggests a close one")
    func danglingTemplate() {
        let yaml = vmSet("replicas: 1\ntemplate: tiney")
        #expect(diagnostics(yaml) == [
            #"m.yaml:7:13: VMSet/web: spec.template: Template "tiney" is not declared (did you mean "tiny"?)"#,
        ])
    }

    @Test("long values are shortened in diagnostics")
    func longValues() {
        let name = String(repeating: "X", count: 10_000)
        let found = diagnostics("apiVersion: drove/v1\nkind: Host\nmetadata: { name: \(name) }\nspec: { uri: \"test:///default\" }\n")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("m.yaml:3:19: Host/\(String(repeating: "X", count: 60))…: metadata.name: \"\(String(repeating: "X", count: 60))…\" is not a valid name") == true)
        #expect((found.first?.count ?? .max) < 400)
    }

    @Test("CRLF line endings count as one line break")
    func crlf() {
        let yaml = vmSet("replicas: 1\ntemplate: tiny\nclone: thin").replacingOccurrences(of: "\n", with: "\r\n")
        #expect(diagnostics(yaml) == [#"m.yaml:8:10: VMSet/web: spec.clone: "thin" is not one of linked, full"#])
    }

    @Test("ManifestError lists every diagnostic, one per line")
    func manifestErrorDescription() throws {
        let error = try #require(throws: ManifestError.self) {
            try load(vmSet("replicas: x\ntemplate: tiny\nclone: y"))
        }
        #expect(error.diagnostics.count == 2)
        #expect(error.description == error.diagnostics.map(\.description).joined(separator: "\n"))
        #expect(error.diagnostics[0].location == SourceLocation(file: "m.yaml", line: 6, column: 13))
        #expect(error.diagnostics[0].subject == "VMSet/web")
        #expect(error.diagnostics[0].path == "spec.replicas")
    }
}
