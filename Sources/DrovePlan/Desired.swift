import DroveManifest

/// What the planner is asked to reach: the manifests, what their template files hold, and
/// which sets are being removed.
public struct DesiredState: Sendable {
    public var manifest: Manifest
    /// Each template's image facts by template name, read from its file before planning. A
    /// template missing here could not be read; its sets are reported, not deployed.
    public var images: [String: TemplateImage]
    /// Sets to remove entirely (their VMs and disks), e.g. by `drove down`.
    public var removing: Set<String>
    /// Which template copies to delete once nothing uses them.
    public var pruneTemplates: TemplatePruning

    public init(manifest: Manifest, images: [String: TemplateImage], removing: Set<String> = [],
                pruneTemplates: TemplatePruning = .none) {
        self.manifest = manifest
        self.images = images
        self.removing = removing
        self.pruneTemplates = pruneTemplates
    }
}

public enum TemplatePruning: Sendable, Equatable {
    /// Keep every template copy.
    case none
    /// Delete copies of the manifests' own templates that no VM uses (`drove down`).
    case declared
    /// Delete every Drove template copy that no VM uses and no pre-copy asks for.
    case unused
}
