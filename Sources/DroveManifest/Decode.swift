import Foundation
import Yams

/// One document read into an object, with what cross-object validation needs to know about it.
struct DecodedDocument {
    enum Object {
        case host(Host)
        case template(Template)
        case vmSet(VMSet)
        case gitSource(GitSource)
    }

    /// The object, when its document had no problem at all.
    var object: Object?
    /// Known whenever the kind is known and the name is valid, even if other fields are wrong.
    var reference: ObjectReference?
    var subject: Subject
    var start: Position
    var namePosition: Position
    /// For a VMSet: the template it names, and where.
    var templateReference: (name: String, position: Position)?
    /// For a VMSet: where each of its NICs is written.
    var networkPositions: [Position] = []
}

/// What every object's document has, read the same way when loading it whole and when only
/// listing what a file declares.
extension DocumentReader {
    /// The top-level mapping, its keys from `allowed` (any when nil).
    func objectFields(_ root: Node, allowed: [String]?) -> Fields? {
        guard case .mapping = root else {
            report(root, FieldPath(), .wrongType, "expected a mapping with apiVersion, kind, metadata and spec, got \(describe(root))")
            return nil
        }
        return fields(root, FieldPath(), allowed: allowed)
    }

    /// `kind`: required, and one of the kinds.
    func kind(_ object: Fields) -> ObjectKind? {
        guard let text = string(object, "kind", required: true) else { return nil }
        if let kind = ObjectKind(rawValue: text) { return kind }
        let names = ObjectKind.allCases.map(\.rawValue)
        var message = "unknown kind \(quoted(text)) (use \(names.dropLast().joined(separator: ", ")) or \(names.last!))"
        if let close = closest(to: text, among: names) { message = "unknown kind \(quoted(text)) (did you mean \"\(close)\"?)" }
        report(object["kind"]!, FieldPath(components: ["kind"]), .unknownKind, message)
        return nil
    }

    /// `metadata.name`: required, and a valid name.
    func name(_ metadata: Fields) -> String? {
        guard let name = string(metadata, "name", required: true) else { return nil }
        guard Names.isDNSLabel(name) else {
            report(metadata["name"]!, metadata.path.appending("name"), .invalidName, "\(quoted(name)) is not a valid name: \(Names.nameRule)")
            return nil
        }
        return name
    }

    /// The document's kind and name, and nothing else checked (no apiVersion, spec or unknown
    /// fields); nil, with the problems reported, unless both are there and valid.
    func declaredReference(_ root: Node) -> ObjectReference? {
        subject = ObjectDecoder.peekSubject(root)
        guard let object = objectFields(root, allowed: nil) else { return nil }
        let kind = self.kind(object)
        let metadata = required(object, "metadata").flatMap { fields($0, FieldPath(components: ["metadata"]), allowed: nil) }
        let name = metadata.flatMap(self.name)
        guard let kind, let name else { return nil }
        return ObjectReference(kind: kind, name: name)
    }
}

/// Walks one composed document into a drove/v1 object.
struct ObjectDecoder {
    let reader: DocumentReader
    /// Relative template paths resolve against this directory.
    let baseDirectory: String
    /// Which host URIs and files the manifest may name.
    let policy: ManifestPolicy

    func decode(_ root: Node) -> DecodedDocument {
        let start = root.mark.map(Position.init) ?? Position(line: 1, column: 1)
        reader.subject = Self.peekSubject(root)
        var document = DecodedDocument(subject: reader.subject, start: start, namePosition: start)
        let problemsBefore = reader.diagnostics.count
        guard let object = reader.objectFields(root, allowed: FieldNames.object) else {
            return document
        }

        if let apiVersion = reader.string(object, "apiVersion", required: true), apiVersion != droveAPIVersion {
            reader.report(object["apiVersion"]!, FieldPath(components: ["apiVersion"]), .invalidValue,
                          "unsupported apiVersion \(quoted(apiVersion)) (use \(droveAPIVersion))")
        }
        let kind = reader.kind(object)
        let metadata = decodeMetadata(object)
        if let node = object["metadata"]?.mapping?.first(where: { $0.key.string == "name" })?.value {
            document.namePosition = node.mark.map(Position.init) ?? start
        }
        if let kind, let name = metadata?.name, Names.isDNSLabel(name) {
            document.reference = ObjectReference(kind: kind, name: name)
        }

        // The spec of an unknown kind is left unread: there is nothing to check it against.
        let spec = kind.flatMap { _ in reader.required(object, "spec") }
        var decoded: DecodedDocument.Object?
        switch kind {
        case .host:
            let fields = spec.flatMap { reader.fields($0, FieldPath(components: ["spec"]), allowed: FieldNames.hostSpec) }
            if let spec = fields.flatMap(decodeHostSpec), let metadata { decoded = .host(Host(metadata: metadata, spec: spec)) }
        case .template:
            let fields = spec.flatMap { reader.fields($0, FieldPath(components: ["spec"]), allowed: FieldNames.templateSpec) }
            if let spec = fields.flatMap(decodeTemplateSpec), let metadata { decoded = .template(Template(metadata: metadata, spec: spec)) }
        case .vmSet:
            let fields = spec.flatMap { reader.fields($0, FieldPath(components: ["spec"]), allowed: FieldNames.vmSetSpec) }
            if let fields, let node = fields["template"], case let .scalar(scalar) = node, node.tagName == .str {
                document.templateReference = (scalar.string, node.mark.map(Position.init) ?? start)
            }
            if case let .sequence(networks)? = fields?["networks"] {
                document.networkPositions = networks.map { $0.mark.map(Position.init) ?? start }
            }
            if let spec = fields.flatMap(decodeVMSetSpec), let metadata { decoded = .vmSet(VMSet(metadata: metadata, spec: spec)) }
        case .gitSource:
            let fields = spec.flatMap { reader.fields($0, FieldPath(components: ["spec"]), allowed: FieldNames.gitSourceSpec) }
            if let spec = fields.flatMap(decodeGitSourceSpec), let metadata {
                decoded = .gitSource(GitSource(metadata: metadata, spec: spec))
            }
        case nil:
            break
        }
        if reader.diagnostics.count == problemsBefore { document.object = decoded }
        return document
    }

    /// Kind and name as written, before any checking, so that every diagnostic can name them.
    static func peekSubject(_ root: Node) -> Subject {
        func stringValue(_ node: Node?, _ key: String) -> String? {
            guard case let .mapping(mapping)? = node,
                  let value = mapping.first(where: { $0.key.string == key })?.value,
                  case let .scalar(scalar) = value, value.tagName == .str, !scalar.string.isEmpty else { return nil }
            return scalar.string
        }
        let metadata: Node? = if case let .mapping(mapping) = root { mapping.first { $0.key.string == "metadata" }?.value } else { nil }
        return Subject(kind: stringValue(root, "kind"), name: stringValue(metadata, "name"))
    }

    private func decodeMetadata(_ object: Fields) -> ObjectMeta? {
        guard let fields = reader.section(object, "metadata", allowed: FieldNames.metadata, required: true) else { return nil }
        let problemsBefore = reader.diagnostics.count
        let name = reader.name(fields)
        let labels = reader.labels(fields, "labels")
        guard reader.diagnostics.count == problemsBefore, let name else { return nil }
        return ObjectMeta(name: name, labels: labels ?? [:])
    }

    // MARK: Host

    private func decodeHostSpec(_ spec: Fields) -> HostSpec? {
        let problemsBefore = reader.diagnostics.count
        let uri = reader.nonEmptyString(spec, "uri", required: true)
        if let uri, case let .failure(refusal) = HostURI.check(uri, policy: policy) {
            reader.report(spec["uri"]!, spec.path.appending("uri"), .refusedByPolicy, "\(quoted(uri)) \(refusal.message)")
        }
        let defaults = HostSpec(uri: "")
        var overcommit = defaults.overcommit
        if let fields = reader.section(spec, "overcommit", allowed: FieldNames.overcommit) {
            overcommit.cpu = reader.number(fields, "cpu", in: ManifestLimits.overcommitCPU) ?? overcommit.cpu
            overcommit.memory = reader.number(fields, "memory", in: ManifestLimits.overcommitMemory) ?? overcommit.memory
        }
        let host = HostSpec(
            uri: uri ?? "",
            pool: reader.nonEmptyString(spec, "pool") ?? defaults.pool,
            domainType: reader.choice(spec, "domainType", DomainType.self) ?? defaults.domainType,
            maxParallel: reader.integer(spec, "maxParallel", in: ManifestLimits.maxParallel) ?? defaults.maxParallel,
            maxTransfers: reader.integer(spec, "maxTransfers", in: ManifestLimits.maxTransfers) ?? defaults.maxTransfers,
            overcommit: overcommit,
            maxBooting: reader.integer(spec, "maxBooting", in: ManifestLimits.maxBooting),
            networks: reader.names(spec, "networks", maxCount: ManifestLimits.offeredNetworks,
                                   isValid: { Names.isInterfaceName($0, maxLength: Names.networkNameLength) }, rule: Names.networkRule()) ?? [],
            bridges: reader.names(spec, "bridges", maxCount: ManifestLimits.offeredNetworks,
                                  isValid: { Names.isInterfaceName($0, maxLength: Names.bridgeNameLength) }, rule: Names.bridgeRule()) ?? [])
        // Every accessor reported what it refused; any report means no object.
        return reader.diagnostics.count == problemsBefore ? host : nil
    }

    // MARK: Template

    private func decodeTemplateSpec(_ spec: Fields) -> TemplateSpec? {
        let problemsBefore = reader.diagnostics.count
        let source = reader.section(spec, "source", allowed: FieldNames.templateSource, required: true).flatMap(decodeTemplateSource)
        let format = reader.choice(spec, "format", DiskFormat.self)
        let readiness = reader.choice(spec, "readiness", Readiness.self)
        let visibility = reader.choice(spec, "visibility", TemplateVisibility.self)
        var precopy = Precopy()
        if let fields = reader.section(spec, "precopy", allowed: FieldNames.precopy) {
            precopy.policy = reader.choice(fields, "policy", PrecopyPolicy.self) ?? precopy.policy
            precopy.hostSelector = reader.labels(fields, "hostSelector").map { LabelSelector($0) }
        }
        guard reader.diagnostics.count == problemsBefore, let source else { return nil }
        return TemplateSpec(source: source, format: format ?? .qcow2, precopy: precopy, readiness: readiness ?? .running,
                            visibility: visibility ?? .private)
    }

    /// `source`: exactly one of `path` (a file on this machine) and `blob` (an image in the
    /// template store).
    private func decodeTemplateSource(_ fields: Fields) -> TemplateSource? {
        let given = FieldNames.templateSource.filter { fields[$0] != nil }
        guard given.count == 1 else {
            let message = given.isEmpty ? "name one of path (a file) or blob (a pushed image)" : "name only one of path or blob"
            reader.report(fields.node, fields.path, given.isEmpty ? .missingField : .invalidValue, message)
            return nil
        }
        if given == ["blob"] { return decodeBlob(fields) }
        guard let path = reader.nonEmptyString(fields, "path", required: true) else { return nil }
        let resolved = resolve(path)
        guard ManifestPolicy.allows(policy.templateFiles, path: resolved) else {
            let rule = switch policy.templateFiles {
            case .nowhere: "this Drove reads no template files from its own disk (start it with --template-dir DIR to allow a directory)"
            default: "template files must lie in \(policy.templateFiles)"
            }
            reader.report(fields["path"]!, fields.path.appending("path"), .refusedByPolicy, "\(quoted(path)) resolves to \(resolved): \(rule)")
            return nil
        }
        return TemplateSource(path: path, resolvedPath: resolved)
    }

    /// `source.blob`: `sha256:<64 hex>`, the digest `drove template push` printed.
    private func decodeBlob(_ fields: Fields) -> TemplateSource? {
        guard let digest = reader.nonEmptyString(fields, "blob", required: true) else { return nil }
        let hex = digest.dropFirst(7)
        guard digest.hasPrefix("sha256:"), hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            reader.report(fields["blob"]!, fields.path.appending("blob"), .invalidValue,
                          "\(quoted(digest)) is not a blob digest: sha256: and 64 lowercase hex digits, as drove template push prints it")
            return nil
        }
        guard let store = policy.templateStore else {
            reader.report(fields["blob"]!, fields.path.appending("blob"), .refusedByPolicy,
                          "this Drove has no template store (blobs are images pushed to drove serve with drove template push; use path here)")
            return nil
        }
        return TemplateSource(path: "blob:" + digest, resolvedPath: "\(store)/sha256/\(hex)", blobDigest: digest)
    }

    private func resolve(_ path: String) -> String {
        let base = URL(fileURLWithPath: baseDirectory, isDirectory: true)
        return URL(fileURLWithPath: path, relativeTo: base).standardizedFileURL.path
    }

    // MARK: VMSet

    private func decodeVMSetSpec(_ spec: Fields) -> VMSetSpec? {
        let problemsBefore = reader.diagnostics.count
        let replicas = reader.integer(spec, "replicas", in: ManifestLimits.replicas, required: true)
        let template = reader.string(spec, "template", required: true)
        if let template, !Names.isDNSLabel(template) {
            reader.report(spec["template"]!, spec.path.appending("template"), .invalidName,
                          "\(quoted(template)) is not a valid Template name: \(Names.nameRule)")
        }
        let clone = reader.choice(spec, "clone", CloneMode.self)

        var resources = Resources()
        if let fields = reader.section(spec, "resources", allowed: FieldNames.resources) {
            resources.vcpus = reader.integer(fields, "vcpus", in: ManifestLimits.vcpus) ?? resources.vcpus
            resources.memory = reader.quantity(fields, "memory", in: ManifestLimits.memory) ?? resources.memory
            resources.cpuMode = reader.choice(fields, "cpuMode", CPUMode.self) ?? resources.cpuMode
        }

        var networks = [Network()]
        if let elements = reader.list(spec, "networks", maxCount: ManifestLimits.networks.upperBound) {
            networks = elements.compactMap { decodeNetwork($0.node, $0.path) }
            if let replicas = reader.peekInteger(spec, "replicas"), replicas > 1 {
                for (index, element) in elements.enumerated() where networks.indices.contains(index) && networks[index].mac != nil {
                    reader.report(element.node, element.path.appending("mac"), .invalidValue,
                                  "a fixed mac would be shared by all \(replicas) replicas; leave it out (each NIC gets a stable MAC of its own) or set replicas: 1")
                }
            }
        }
        let cloudInit = reader.section(spec, "cloudInit", allowed: FieldNames.cloudInit).flatMap(decodeCloudInit)
        let readiness = reader.choice(spec, "readiness", Readiness.self)
        let readinessTimeout = reader.duration(spec, "readinessTimeout", in: ManifestLimits.readinessTimeout)

        var placement = Placement()
        if let fields = reader.section(spec, "placement", allowed: FieldNames.placement) {
            if let labels = reader.labels(fields, "hostSelector") { placement.hostSelector = LabelSelector(labels) }
            placement.spread = reader.choice(fields, "spread", SpreadPolicy.self) ?? placement.spread
            placement.maxPerHost = reader.integer(fields, "maxPerHost", in: ManifestLimits.maxPerHost)
        }

        var updateStrategy = UpdateStrategy()
        if let fields = reader.section(spec, "updateStrategy", allowed: FieldNames.updateStrategy) {
            updateStrategy.maxUnavailable = reader.integer(fields, "maxUnavailable", in: ManifestLimits.maxUnavailable)
                ?? updateStrategy.maxUnavailable
        }
        let runStrategy = reader.choice(spec, "runStrategy", RunStrategy.self)
        let start = reader.choice(spec, "start", StartMode.self)

        guard reader.diagnostics.count == problemsBefore, let replicas, let template else { return nil }
        return VMSetSpec(
            replicas: replicas, template: template, clone: clone ?? .linked, resources: resources,
            networks: networks, cloudInit: cloudInit, readiness: readiness,
            readinessTimeout: readinessTimeout ?? VMSetSpec.defaultReadinessTimeout,
            placement: placement, updateStrategy: updateStrategy, runStrategy: runStrategy ?? .running,
            start: start ?? .boot)
    }

    /// One NIC: `source` names a network or bridge for those types and is refused for `user`.
    private func decodeNetwork(_ node: Node, _ path: FieldPath) -> Network? {
        guard let fields = reader.fields(node, path, allowed: FieldNames.network) else { return nil }
        let problemsBefore = reader.diagnostics.count
        var network = Network()
        network.type = reader.choice(fields, "type", NetworkType.self) ?? network.type
        let source = reader.nonEmptyString(fields, "source")
        switch network.type {
        case .user:
            if let node = fields["source"] {
                reader.report(node, fields.path.appending("source"), .invalidValue, "not allowed when type is user (user networking has no source)")
            }
        case .network, .bridge:
            if fields["source"] == nil {
                reader.report(fields.node, fields.path.appending("source"), .missingField,
                              "required when type is \(network.type.rawValue) (the libvirt \(network.type == .network ? "network" : "bridge") to attach to)")
            } else if let source {
                let bridge = network.type == .bridge
                if Names.isInterfaceName(source, maxLength: bridge ? Names.bridgeNameLength : Names.networkNameLength) {
                    network.source = source
                } else {
                    reader.report(fields["source"]!, fields.path.appending("source"), .invalidValue,
                                  "\(quoted(source)) is not a valid \(bridge ? "bridge" : "network") name: \(bridge ? Names.bridgeRule() : Names.networkRule())")
                }
            }
        }
        if let model = reader.nonEmptyString(fields, "model") {
            if isNICModel(model) {
                network.model = model
            } else {
                reader.report(fields["model"]!, fields.path.appending("model"), .invalidValue,
                              "\(quoted(model)) is not a NIC model name (letters, digits, '_', '.', '-'; e.g. virtio, e1000)")
            }
        }
        if let mac = reader.string(fields, "mac") {
            if MACAddress.isValid(mac) {
                network.mac = mac
            } else {
                reader.report(fields["mac"]!, fields.path.appending("mac"), .invalidValue,
                              "\(quoted(mac)) is not a unicast MAC address written aa:bb:cc:dd:ee:ff in lowercase hex")
            }
        }
        return reader.diagnostics.count == problemsBefore ? network : nil
    }

    private func decodeCloudInit(_ fields: Fields) -> CloudInit? {
        let problemsBefore = reader.diagnostics.count
        func text(_ key: String) -> String? {
            guard let value = reader.string(fields, key) else { return nil }
            if value.utf8.count > ManifestLimits.cloudInitBytes {
                reader.report(fields[key]!, fields.path.appending(key), .outOfRange,
                              "\(value.utf8.count) bytes; at most \(ManifestLimits.cloudInitBytes) (64 KiB) are allowed in a NoCloud seed")
                return nil
            }
            return value
        }
        var cloudInit = CloudInit()
        cloudInit.userData = text("userData") ?? ""
        cloudInit.networkConfig = text("networkConfig")
        if let node = fields["metaData"], let map = reader.fields(node, fields.path.appending("metaData"), allowed: nil) {
            if map.entries.count > ManifestLimits.metaDataKeys {
                reader.report(node, map.path, .outOfRange, "\(map.entries.count) keys; at most \(ManifestLimits.metaDataKeys) are allowed")
            }
            for (key, entry) in map.entries.sorted(by: { $0.key < $1.key }) {
                let path = map.path.appending(key)
                if !Names.isMetaDataKey(key) {
                    reader.report(entry.key, path, .invalidName, "\(quoted(key)) is not a meta-data key (letters, digits, '_' and '-')")
                } else if ["instance-id", "local-hostname"].contains(key) {
                    reader.report(entry.key, path, .invalidValue, "\(key) is Drove's to write (<set>-<ordinal>)")
                }
                guard let value = reader.string(entry.value, path) else { continue }
                if value.utf8.count > 1024 {
                    reader.report(entry.value, path, .outOfRange, "\(value.utf8.count) bytes; at most 1024 are allowed")
                }
                cloudInit.metaData[key] = value
            }
        }
        return reader.diagnostics.count == problemsBefore ? cloudInit : nil
    }

    /// libvirt NIC model names: `virtio`, `e1000e`, `virtio-transitional`, `rtl8139`.
    private func isNICModel(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func isAlnum(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        return !bytes.isEmpty && bytes.count <= 64 && isAlnum(bytes[0])
            && bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }
}
