import DroveAPI
import DroveManifest
import DroveStore

/// What each role may do (docs/api.md, "Users and roles"). Who a request acts for is the
/// authentication middleware's concern; this decides what that principal may read and change.
///
/// - viewer: reads everything, changes nothing.
/// - deployer: also applies and deletes its own Templates and VMSets; reads Hosts, its own VM
///   sets (and their VMs and events), its own templates and shared ones; its sets may use only
///   templates it may read; its templates come from the template store, not the controller's disk.
/// - admin: everything.
struct Access: Sendable {
    let principal: Principal
    /// Every stored template as stored (not as a request may declare it again).
    let templates: [String: StoredTemplate]
    let setOwners: [String: String?]

    var isAdmin: Bool { principal.role == .admin }

    var author: ChangeAuthor { ChangeAuthor(name: principal.name, mayChangeAnyObject: isAdmin) }

    /// Whether `principal` may see the object at all; `GET` of one it may not answers 404 for a
    /// template (its existence is private too) and 403 for a VM set.
    func mayRead(_ reference: ObjectReference) -> Bool {
        switch reference.kind {
        case .template: mayUse(template: reference.name)
        case .vmSet: principal.role != .deployer || ownsSet(reference.name)
        case .host, .gitSource: true
        }
    }

    struct StoredTemplate: Sendable {
        var owner: String?
        var visibility: TemplateVisibility
        /// Its template store image, if it names one.
        var blob: String?
    }

    /// Whether the object was stored when this access was read (a deployer's view only).
    func knows(_ reference: ObjectReference) -> Bool {
        switch reference.kind {
        case .template: principal.role != .deployer || templates[reference.name] != nil
        case .vmSet: principal.role != .deployer || setOwners[reference.name] != nil
        case .host, .gitSource: true
        }
    }

    /// Private templates are hidden from deployers other than their owner; viewers change
    /// nothing, so they may read them.
    func mayUse(template name: String) -> Bool {
        guard principal.role == .deployer, let template = templates[name] else { return true }
        return template.visibility == .shared || template.owner == principal.name
    }

    func ownsSet(_ name: String) -> Bool {
        guard let owner = setOwners[name] else { return false }
        return owner == principal.name
    }

    func requireReadable(_ reference: ObjectReference) throws(APIError) {
        guard !mayRead(reference) else { return }
        if reference.kind == .template { throw APIError.notFound(reference) }
        throw APIError(.forbidden, "\(reference) belongs to another user: a deployer sees only its own VM sets")
    }

    /// Mutations need at least a deployer.
    func requireDeployer(to action: String) throws(APIError) {
        try Self.requireDeployer(principal, to: action)
    }

    /// The same, before anything else of the request is read: a viewer's request is refused for
    /// what the viewer may do, not for what its body holds.
    static func requireDeployer(_ principal: Principal, to action: String) throws(APIError) {
        guard principal.role < .deployer else { return }
        throw APIError(.forbidden, "\(principal.name) is a viewer and may not \(action): viewers only read")
    }

    func requireAdmin(to action: String) throws(APIError) {
        guard !isAdmin else { return }
        throw APIError(.forbidden, "only an admin may \(action) (\(principal) is not)")
    }

    /// What a deployer may declare: Templates from the template store and VM sets using
    /// templates it may read. `pushedBlob` is the image being pushed by this request.
    func checkApply(_ requested: [ObjectReference], in manifest: Manifest, pushedBlob: String? = nil) throws(APIError) {
        try requireDeployer(to: "apply manifests")
        guard !isAdmin else { return }
        let declared = Set(requested)
        for reference in requested {
            switch reference.kind {
            case .host, .gitSource:
                throw APIError(.forbidden, "\(reference): only an admin applies Hosts and GitSources (\(principal) is not)")
            case .template:
                guard let template = manifest.template(named: reference.name) else { continue }
                guard let digest = template.spec.source.blobDigest else {
                    throw APIError(.forbidden, "\(reference): a template file on the controller's disk is an admin-only source; "
                        + "push the image with drove template push FILE --name \(reference.name)")
                }
                guard digest == pushedBlob || mayUse(blob: digest) else {
                    throw APIError(.forbidden, "\(reference): image \(digest) is in no template you may use; push it with drove template push")
                }
            case .vmSet:
                guard let set = manifest.vmSet(named: reference.name) else { continue }
                let template = set.spec.template
                let inRequest = declared.contains(ObjectReference(kind: .template, name: template))
                guard inRequest || mayUse(template: template) else {
                    throw APIError(.forbidden, "\(reference) uses Template/\(template), which is private to another user; "
                        + "use your own templates or shared ones")
                }
            }
        }
    }

    /// A deployer may name a stored image only if a stored template it may use names it
    /// already: what the request itself declares proves nothing.
    private func mayUse(blob digest: String) -> Bool {
        templates.contains { $0.value.blob == digest && mayUse(template: $0.key) }
    }
}
