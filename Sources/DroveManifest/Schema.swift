/// The JSON Schema (draft 2020-12) of drove/v1 manifest documents, built from the same field
/// lists and limits that the loader enforces. Editors use it for completion and checking; the
/// loader stays the authority (it also checks names across objects and references).
public enum ManifestSchema {
    public static let dialect = "https://json-schema.org/draft/2020-12/schema"
    public static let id = "urn:drove:manifest:v1"

    /// The schema, pretty-printed with sorted keys.
    public static func json() -> String {
        document().rendered()
    }

    public static func document() -> JSONValue {
        [
            "$schema": .string(dialect),
            "$id": .string(id),
            "title": "Drove manifest document (drove/v1)",
            "description": "One YAML document of a Drove manifest: a Host, a Template, a VMSet or a GitSource.",
            "oneOf": .array(ObjectKind.allCases.map { .object(["$ref": .string("#/$defs/\($0.rawValue)")]) }),
            "$defs": .object(definitions),
        ]
    }

    // MARK: Definitions

    private static var definitions: [String: JSONValue] {
        [
            "Host": kindObject(.host, "One libvirt host that VMs are placed on."),
            "HostSpec": object(FieldNames.hostSpec, required: ["uri"], description: "How to reach and use a libvirt host.", [
                "uri": ["type": "string", "minLength": 1, "pattern": "^(qemu(\\+(unix|ssh|tls|tcp))?|test)://[A-Za-z0-9._~:/?=&@+\\[\\]-]*$",
                        "description": "libvirt connection URI in an accepted form (docs/manifests.md, What a manifest may name), e.g. qemu+ssh://root@node-a/system or qemu+unix:///system?socket=/path/libvirt-sock."],
                "pool": ["type": "string", "minLength": 1, "default": "default",
                         "description": "Storage pool that holds template copies and clones."],
                "domainType": choice(DomainType.self, default: .auto,
                                     "Domain type: auto (kvm where the host offers it, else qemu), kvm or qemu (TCG)."),
                "maxParallel": integer(ManifestLimits.maxParallel, default: 4, "Concurrent libvirt operations on this host."),
                "maxTransfers": integer(ManifestLimits.maxTransfers, default: 1, "Concurrent template copies to this host."),
                "overcommit": ref("Overcommit"),
                "maxBooting": integer(ManifestLimits.maxBooting, default: nil,
                                      "Guests booting at once (started, not yet ready) on this host; one per host CPU when absent."),
                "networks": names(maxLength: 64, "The libvirt networks this host offers; VMs on a network are placed only on hosts that offer it."),
                "bridges": names(maxLength: 15, "The host bridges this host offers; VMs on a bridge are placed only on hosts that offer it."),
            ]),
            "Overcommit": object(FieldNames.overcommit, required: [], description: "How far to overcommit the host.", [
                "cpu": number(ManifestLimits.overcommitCPU, default: 4, "Virtual CPUs per physical CPU."),
                "memory": number(ManifestLimits.overcommitMemory, default: 1, "Guest memory per byte of host memory."),
            ]),

            "Template": kindObject(.template, "A disk image that VMs are cloned from."),
            "TemplateSpec": object(FieldNames.templateSpec, required: ["source"], description: "Where the image is and how it is copied.", [
                "source": ref("TemplateSource"),
                "format": choice(DiskFormat.self, default: .qcow2, "Image format, named explicitly so QEMU never probes it."),
                "precopy": ref("Precopy"),
                "readiness": choice(Readiness.self, default: .running,
                                    "How its VMs tell they are up (a VMSet may say otherwise): agent: the guest opens the QEMU guest agent channel once booted; address: an IP address of the VM is known; running: ready once it runs."),
                "visibility": choice(TemplateVisibility.self, default: .private,
                                     "Who may use it: private: its owner; shared: every user."),
            ]),
            "TemplateSource": .object(templateSourceDefinition),
            "Precopy": object(FieldNames.precopy, required: [], description: "Copying the template to hosts ahead of need.", [
                "policy": choice(PrecopyPolicy.self, default: .eager,
                                 "eager: copy to every host that will need it, ahead of need; onDemand: copy when a clone needs it."),
                "hostSelector": withDescription(ref("Labels"), "Also copy to the hosts carrying all these labels, needed or not."),
            ]),

            "VMSet": kindObject(.vmSet, "N alike VMs, named <set>-<ordinal>, cloned from one Template."),
            "VMSetSpec": object(FieldNames.vmSetSpec, required: ["replicas", "template"], description: "The VMs wanted.", [
                "replicas": integer(ManifestLimits.replicas, default: nil, "Number of VMs."),
                "template": withDescription(ref("Name"), "Name of a Template declared in the manifests."),
                "clone": choice(CloneMode.self, default: .linked, "linked: a qcow2 overlay over the template; full: a copy."),
                "resources": ref("Resources"),
                "networks": ["type": "array", "maxItems": .int(ManifestLimits.networks.upperBound), "items": ref("Network"),
                             "description": "The VM's NICs in order; one user-mode NIC when absent, none when empty."],
                "cloudInit": ref("CloudInit"),
                "readiness": ["type": "string", "enum": .array(Readiness.allCases.map { .string($0.rawValue) }),
                              "description": "How to tell a VM is up: agent (its guest opened the agent channel), address (an IP address is known) or running; the template's readiness when absent."],
                "readinessTimeout": ["type": "string", "pattern": "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$", "default": "5m",
                                     "description": "How long a started VM may take to become ready before it is marked Failed: 10s to 24h."],
                "placement": ref("Placement"),
                "updateStrategy": ref("UpdateStrategy"),
                "runStrategy": choice(RunStrategy.self, default: .running, "Whether the VMs should run."),
                "start": choice(StartMode.self, default: .boot,
                                "boot: each VM boots; snapshot: each VM resumes from its host's golden snapshot of the template (booted once, saved), under its own identity."),
            ]),
            "Resources": object(FieldNames.resources, required: [], description: "What each VM gets.", [
                "vcpus": integer(ManifestLimits.vcpus, default: 1, "Virtual CPUs."),
                "memory": withDescription(ref("Quantity"), "Guest memory, 16Mi to 1Ti.", default: "128Mi"),
                "cpuMode": choice(CPUMode.self, default: .default,
                                  "CPU mode; default is libvirt's default model, which starts everywhere."),
            ]),
            "Network": .object(networkDefinition),
            "CloudInit": object(FieldNames.cloudInit, required: [], description: "A cloud-init NoCloud seed (label cidata) for each VM; Drove writes instance-id and local-hostname (<set>-<ordinal>).", [
                "userData": ["type": "string", "maxLength": .int(ManifestLimits.cloudInitBytes),
                             "description": "The user-data file (#cloud-config, a #! script…), at most 64 KiB; shown only as a digest."],
                "metaData": ["type": "object", "maxProperties": .int(ManifestLimits.metaDataKeys),
                             "propertyNames": ["pattern": "^[A-Za-z0-9_-]+$", "not": ["enum": ["instance-id", "local-hostname"]]],
                             "additionalProperties": ["type": "string", "maxLength": 1024],
                             "description": "More meta-data keys."],
                "networkConfig": ["type": "string", "maxLength": .int(ManifestLimits.cloudInitBytes),
                                  "description": "A network-config file (version 1 or 2), at most 64 KiB."],
            ]),
            "Placement": object(FieldNames.placement, required: [], description: "Which hosts the VMs go to.", [
                "hostSelector": withDescription(ref("Labels"), "Only hosts carrying all these labels; all hosts when absent."),
                "spread": choice(SpreadPolicy.self, default: .hosts, "hosts: spread across the hosts; pack: fill one host first."),
                "maxPerHost": integer(ManifestLimits.maxPerHost, default: nil, "At most this many VMs of the set per host; no limit when absent."),
            ]),
            "UpdateStrategy": object(FieldNames.updateStrategy, required: [], description: "How a changed spec rolls out.", [
                "maxUnavailable": integer(ManifestLimits.maxUnavailable, default: 1, "VMs of the set that may be down at once."),
            ]),

            "GitSource": kindObject(.gitSource, "A git repository whose manifests the controller keeps the fleet in step with."),
            "GitSourceSpec": object(FieldNames.gitSourceSpec, required: ["url"], description: "Where the manifests are and how they are applied.", [
                "url": ["type": "string", "minLength": 1, "pattern": "^(/|file:///|https://|ssh://|http://)[A-Za-z0-9._~:/@+\\[\\]-]*$",
                        "description": "The repository: /absolute/path or file:///absolute/path (below --repository-dir), https://host/path, ssh://[user@]host/path."],
                "ref": ref("GitReference"),
                "path": ["type": "string", "default": "",
                         "description": "The directory (or file) inside the repository whose *.yaml and *.yml manifests are applied; the whole repository when empty."],
                "interval": ["type": "string", "pattern": "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$", "default": "1m",
                             "description": "How often the repository is looked at: 10s to 24h, e.g. 30s, 1m, 1h30m."],
                "prune": ["type": "boolean", "default": false,
                          "description": "Delete objects this source applied that a new revision no longer declares."],
                "suspend": ["type": "boolean", "default": false, "description": "Stop fetching and applying until false again."],
                "allowEmpty": ["type": "boolean", "default": false,
                               "description": "Accept a revision that would prune every object of the source."],
                "secretRef": ref("GitCredentials"),
                "webhookSecretRef": ref("GitWebhookSecret"),
            ]),
            "GitReference": [
                "type": "object", "additionalProperties": false, "minProperties": 1, "maxProperties": 1,
                "description": "What to follow: one of branch (default main), tag or commit.",
                "properties": [
                    "branch": ["type": "string", "minLength": 1, "description": "A branch name; its head is applied."],
                    "tag": ["type": "string", "minLength": 1, "description": "A tag name."],
                    "commit": ["type": "string", "pattern": "^([0-9a-f]{40}|[0-9a-f]{64})$", "description": "A full commit id."],
                ],
            ],
            "GitCredentials": object(FieldNames.gitCredentials, required: ["path"], description: "Credentials for a private repository, from files below --credentials-dir.", [
                "path": ["type": "string", "pattern": "^/", "description": "https: a file holding a token; ssh: a private key."],
                "username": ["type": "string", "minLength": 1, "maxLength": 64, "default": "git", "description": "https: the user name sent with the token."],
                "knownHosts": ["type": "string", "pattern": "^/", "description": "ssh: the known_hosts file the server's key must be in."],
            ]),
            "GitWebhookSecret": object(FieldNames.gitWebhookSecret, required: ["path"], description: "The shared secret push webhooks are signed with.", [
                "path": ["type": "string", "pattern": "^/", "description": "A file below --credentials-dir holding the secret."],
            ]),

            "ObjectMeta": object(FieldNames.metadata, required: ["name"], description: "Name and labels.", [
                "name": ref("Name"),
                "labels": ref("Labels"),
            ]),
            "Name": [
                "type": "string", "minLength": 1, "maxLength": .int(Names.maxNameLength), "pattern": .string(Names.dnsLabelPattern),
                "description": "A DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters.",
            ],
            "Labels": [
                "type": "object",
                "description": "Label map. Keys: an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.'; values: at most 63 such characters, or empty.",
                "propertyNames": ["pattern": .string(Names.labelKeyPattern), "maxLength": .int(Names.maxLabelPrefixLength + 1 + Names.maxNameLength)],
                "additionalProperties": ["type": "string", "maxLength": .int(Names.maxNameLength), "pattern": .string(Names.labelValuePattern)],
            ],
            "Quantity": [
                "description": "Bytes: a whole number with an optional suffix Ki, Mi, Gi, Ti (binary) or k, M, G, T (decimal); a plain number is bytes.",
                "oneOf": [
                    ["type": "string", "pattern": .string("^[0-9]+(\(Quantity.suffixes.map(\.suffix).joined(separator: "|")))?$")],
                    ["type": "integer", "minimum": 0],
                ],
            ],
        ]
    }

    /// Exactly one of `path` and `blob`.
    private static var templateSourceDefinition: [String: JSONValue] {
        guard case var .object(source) = object(FieldNames.templateSource, required: [], description: "Where the image is: a file, or a pushed image.", [
            "path": ["type": "string", "minLength": 1,
                     "description": "Image path on the machine Drove runs on; a relative path resolves against the directory of the manifest file."],
            "blob": ["type": "string", "pattern": "^sha256:[0-9a-f]{64}$",
                     "description": "An image in drove serve's template store, by the digest drove template push printed."],
        ]) else { return [:] }
        source["oneOf"] = [["required": ["path"]], ["required": ["blob"]]]
        return source
    }

    /// `source` is required for network and bridge, and forbidden for user (the default).
    private static var networkDefinition: [String: JSONValue] {
        guard case var .object(network) = object(FieldNames.network, required: [], description: "One network interface of the VM.", [
            "type": choice(NetworkType.self, default: .user,
                           "user: user-mode networking, nothing needed on the host; network: a libvirt network; bridge: a host bridge."),
            "source": ["type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$", "maxLength": 64,
                       "description": "The libvirt network (at most 64 characters) or bridge (at most 15) name; only for network and bridge."],
            "mac": ["type": "string", "pattern": "^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$",
                    "description": "A fixed MAC address (only with replicas: 1); by default each NIC gets a stable one derived from set, ordinal and NIC index."],
            "model": ["type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$", "maxLength": 64, "default": "virtio",
                      "description": "NIC model, e.g. virtio or e1000."],
        ]) else { return [:] }
        network["if"] = ["required": ["type"], "properties": ["type": ["enum": ["network", "bridge"]]]]
        network["then"] = ["required": ["source"]]
        network["else"] = ["not": ["required": ["source"]]]
        return network
    }

    // MARK: Builders

    private static func names(maxLength: Int, _ description: String) -> JSONValue {
        [
            "type": "array", "uniqueItems": true, "maxItems": .int(ManifestLimits.offeredNetworks), "default": [],
            "items": ["type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$", "maxLength": .int(maxLength)],
            "description": .string(description),
        ]
    }

    private static func kindObject(_ kind: ObjectKind, _ description: String) -> JSONValue {
        let spec = "\(kind.rawValue)Spec"
        return object(FieldNames.object, required: FieldNames.object, description: description, [
            "apiVersion": ["const": .string(droveAPIVersion)],
            "kind": ["const": .string(kind.rawValue)],
            "metadata": ref("ObjectMeta"),
            "spec": ref(spec),
        ])
    }

    /// A closed object; `fields` fixes the property order and must name exactly the properties.
    private static func object(_ fields: [String], required: [String], description: String, _ properties: [String: JSONValue]) -> JSONValue {
        precondition(Set(fields) == Set(properties.keys), "schema properties drifted from FieldNames")
        return [
            "type": "object",
            "description": .string(description),
            "additionalProperties": false,
            "required": .array(required.map { .string($0) }),
            "properties": .object(properties),
        ]
    }

    private static func ref(_ name: String) -> JSONValue {
        ["$ref": .string("#/$defs/\(name)")]
    }

    private static func withDescription(_ value: JSONValue, _ description: String, default defaultValue: JSONValue? = nil) -> JSONValue {
        guard case var .object(members) = value else { return value }
        members["description"] = .string(description)
        if let defaultValue { members["default"] = defaultValue }
        return .object(members)
    }

    private static func integer(_ range: ClosedRange<Int>, default defaultValue: Int?, _ description: String) -> JSONValue {
        var members: [String: JSONValue] = [
            "type": "integer", "minimum": .int(range.lowerBound), "maximum": .int(range.upperBound),
            "description": .string(description),
        ]
        if let defaultValue { members["default"] = .int(defaultValue) }
        return .object(members)
    }

    private static func number(_ range: ClosedRange<Double>, default defaultValue: Double, _ description: String) -> JSONValue {
        [
            "type": "number", "minimum": .double(range.lowerBound), "maximum": .double(range.upperBound),
            "default": .double(defaultValue), "description": .string(description),
        ]
    }

    private static func choice<Choice: RawRepresentable & CaseIterable>(_ type: Choice.Type, default defaultValue: Choice, _ description: String) -> JSONValue
    where Choice.RawValue == String {
        [
            "type": "string", "enum": .array(Choice.allCases.map { .string($0.rawValue) }),
            "default": .string(defaultValue.rawValue), "description": .string(description),
        ]
    }
}
