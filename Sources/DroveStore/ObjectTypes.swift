import Foundation
import DroveManifest

/// One drove/v1 object of any kind, defaults applied.
public enum DesiredObject: Sendable, Hashable {
    case host(DroveManifest.Host)
    case template(Template)
    case vmSet(VMSet)
    case gitSource(GitSource)

    public var reference: ObjectReference {
        switch self {
        case let .host(host): ObjectReference(kind: .host, name: host.metadata.name)
        case let .template(template): ObjectReference(kind: .template, name: template.metadata.name)
        case let .vmSet(vmSet): ObjectReference(kind: .vmSet, name: vmSet.metadata.name)
        case let .gitSource(source): ObjectReference(kind: .gitSource, name: source.metadata.name)
        }
    }

    public var labels: [String: String] {
        switch self {
        case let .host(host): host.metadata.labels
        case let .template(template): template.metadata.labels
        case let .vmSet(vmSet): vmSet.metadata.labels
        case let .gitSource(source): source.metadata.labels
        }
    }

    /// The canonical rendering of the spec: equal fingerprints mean equal specs, and a change
    /// of fingerprint is what bumps an object's generation.
    public var specFingerprint: String {
        switch self {
        case let .host(host): Canonical.render(host.spec)
        case let .template(template): Canonical.render(template.spec)
        case let .vmSet(vmSet): Canonical.render(vmSet.spec)
        case let .gitSource(source): Canonical.render(source.spec)
        }
    }

    /// For a VMSet, the Template it names.
    var templateName: String? {
        if case let .vmSet(vmSet) = self { return vmSet.spec.template }
        return nil
    }

    /// Every object of a manifest, hosts, then templates, then VM sets, then git sources, in
    /// reading order.
    public static func all(in manifest: Manifest) -> [DesiredObject] {
        manifest.hosts.map(DesiredObject.host) + manifest.templates.map(DesiredObject.template)
            + manifest.vmSets.map(DesiredObject.vmSet) + manifest.gitSources.map(DesiredObject.gitSource)
    }
}

/// An object to apply: the object as loaded, and the YAML document it was loaded from, which
/// the store keeps so that it can load it again (`Store.desiredState()`) and lose nothing.
/// `AppliedObject.objects(in:sources:)` builds these from a loaded manifest; code that builds
/// one by hand vouches that `manifestText` loads, with `baseDirectory`, into `object`.
public struct AppliedObject: Sendable, Hashable {
    public var object: DesiredObject
    /// One YAML document declaring `object`.
    public var manifestText: String
    /// The absolute directory relative template paths in `manifestText` resolve against.
    public var baseDirectory: String

    public init(object: DesiredObject, manifestText: String, baseDirectory: String) {
        self.object = object
        self.manifestText = manifestText
        self.baseDirectory = baseDirectory
    }

    public var reference: ObjectReference { object.reference }
}

/// What `apply` did to one object.
public enum ApplyResult: Sendable, Hashable {
    /// Stored for the first time, at generation 1.
    case created
    /// Its spec or labels changed, or a pending deletion was cancelled; `generation` is the
    /// generation now (one more than before only if the spec changed).
    case configured(generation: Int)
    /// Equal to what was stored; nothing was written.
    case unchanged
}

/// What `delete` did to one object.
public enum DeleteResult: Sendable, Hashable {
    /// Marked for deletion; the controller prunes it, then calls `markPruned`.
    case deletionRequested
    /// It was already marked.
    case alreadyRequested
    case notFound
}

/// One stored desired object.
public struct StoredObject: Sendable, Hashable {
    public var reference: ObjectReference
    /// The YAML document it was applied as.
    public var manifestText: String
    public var baseDirectory: String
    public var specFingerprint: String
    public var labels: [String: String]
    /// 1 when created; one more each time an apply changed the spec.
    public var generation: Int
    public var createdAt: Date
    public var updatedAt: Date
    /// When a deletion was asked for; nil while the object is desired.
    public var deletionRequestedAt: Date?
    /// The GitSource that applied it and owns it; nil for an object applied by hand.
    public var source: String?
    /// The revision of `source` that last applied it.
    public var revision: String?
    /// The user whose request created it; nil for objects made before users existed, by a
    /// GitSource, or by a caller that named no author.
    public var owner: String?

    public var deletionRequested: Bool { deletionRequestedAt != nil }
}

/// What the controller works towards, read in one snapshot.
public struct DesiredState: Sendable {
    /// Every object not marked for deletion, loaded again from its stored text (hosts, then
    /// templates, then VM sets; by name within a kind). Origins name `store:Kind/name`.
    public var manifest: Manifest
    /// The generation of every object in `manifest`, for the status' `observedGeneration`.
    public var generations: [ObjectReference: Int]
    /// Objects marked for deletion, waiting for the controller to prune them and call
    /// `markPruned`.
    public var deleting: [StoredObject]
    /// The Hosts among them, loaded: VMs of sets deleted with them must still be removed there.
    public var deletingHosts: [DroveManifest.Host]
    /// The Templates among them, loaded: their copies on the hosts must still be removed.
    public var deletingTemplates: [DroveManifest.Template] = []
}
