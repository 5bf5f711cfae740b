import DroveManifest

/// The `Host` manifest (`hosts.yaml`) that `drove lab up` writes: one document per lab host.
public enum LabManifest {
    public static func render(_ hosts: [LabHost]) -> String {
        var out = "# Written by `drove lab up`: the hosts of a local lab.\n"
        for (position, host) in hosts.enumerated() {
            if position > 0 { out += "---\n" }
            out += """
            apiVersion: drove/v1
            kind: Host
            metadata:
              name: \(host.name)
              labels:
                lab: "true"
            spec:
              uri: \(quoted(host.uri))
              pool: \(host.pool)
              domainType: \(host.domainType)
              networks: [\(Lab.networkName)]

            """
        }
        return out
    }

    /// A YAML double-quoted scalar: the URI holds `?` and `=`, and the path could hold anything.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for char in text {
            switch char {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.append(char)
            }
        }
        return out + "\""
    }
}

extension LabHost {
    /// The `Host` object `hosts.yaml` declares for this host.
    public var manifestHost: Host {
        Host(metadata: ObjectMeta(name: name, labels: ["lab": "true"]),
             spec: HostSpec(uri: uri, pool: pool, domainType: .qemu, networks: [Lab.networkName]))
    }
}

extension Lab {
    /// The `Host` objects of the lab's `hosts.yaml`, read strictly by DroveManifest.
    public func manifestHosts() throws -> [Host] {
        try ManifestLoader().load(paths: [layout.hostsManifest.path]).hosts
    }
}
