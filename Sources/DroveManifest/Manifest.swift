/// A validated set of objects: every reference resolves and every name is unique within its kind.
/// Objects keep the order in which they were read (files sorted, documents in file order).
public struct Manifest: Sendable, Equatable {
    public var hosts: [Host]
    public var templates: [Template]
    public var vmSets: [VMSet]
    public var gitSources: [GitSource]
    /// Where each object was declared (the start of its document).
    public var origins: [ObjectReference: SourceLocation]

    public init(
        hosts: [Host] = [], templates: [Template] = [], vmSets: [VMSet] = [], gitSources: [GitSource] = [],
        origins: [ObjectReference: SourceLocation] = [:]
    ) {
        self.hosts = hosts
        self.templates = templates
        self.vmSets = vmSets
        self.gitSources = gitSources
        self.origins = origins
    }

    public func host(named name: String) -> Host? { hosts.first { $0.metadata.name == name } }
    public func template(named name: String) -> Template? { templates.first { $0.metadata.name == name } }
    public func vmSet(named name: String) -> VMSet? { vmSets.first { $0.metadata.name == name } }
    public func gitSource(named name: String) -> GitSource? { gitSources.first { $0.metadata.name == name } }

    /// The VMs all sets ask for.
    public var totalReplicas: Int { vmSets.reduce(0) { $0 + $1.spec.replicas } }

    /// Every object's reference, in reading order within each kind.
    public var references: [ObjectReference] {
        hosts.map { ObjectReference(kind: .host, name: $0.metadata.name) }
            + templates.map { ObjectReference(kind: .template, name: $0.metadata.name) }
            + vmSets.map { ObjectReference(kind: .vmSet, name: $0.metadata.name) }
            + gitSources.map { ObjectReference(kind: .gitSource, name: $0.metadata.name) }
    }
}
