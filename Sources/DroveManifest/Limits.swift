/// The ranges and limits of drove/v1, shared by validation, the JSON Schema and the docs.
public enum ManifestLimits {
    public static let replicas = 0...10_000
    public static let maxParallel = 1...64
    public static let maxTransfers = 1...16
    public static let overcommitCPU = 0.1...64.0
    public static let overcommitMemory = 0.1...4.0
    public static let vcpus = 1...256
    /// Guest memory in bytes: 16Mi to 1Ti.
    public static let memory: ClosedRange<UInt64> = (16 << 20)...(1 << 40)
    public static let maxPerHost = 1...10_000
    public static let maxUnavailable = 1...10_000
    /// A GitSource's interval, in seconds: at least 10 s, so no source hammers its server.
    public static let gitInterval = 10...86_400
    /// Seconds a started VM may take to become ready.
    public static let readinessTimeout = 10...86_400
    /// NICs per VM.
    public static let networks = 0...16
    /// Guests booting at once on one host.
    public static let maxBooting = 1...256
    /// Networks or bridges one host may offer.
    public static let offeredNetworks = 64
    /// cloud-init user data and network config, each: a NoCloud seed is not a file store.
    public static let cloudInitBytes = 64 << 10
    /// Extra meta-data keys.
    public static let metaDataKeys = 64

    /// Files larger than this are refused before they are read.
    public static let maxFileSize = 4 << 20
    /// Documents nested deeper than this (flow brackets plus block indentation levels) are
    /// refused before they are parsed.
    public static let maxDepth = 64
    /// Documents that expand (through aliases) to more nodes than this are refused.
    public static let maxNodesPerDocument = 10_000
    /// Files of more documents than this are refused before they are parsed: every document
    /// costs its composing, decoding and diagnostics however small it is.
    public static let maxDocumentsPerFile = 1_000
    /// Files of more nodes than this (scalars, flow collections, aliases, as the text has
    /// them) are refused before they are parsed.
    public static let maxNodesPerFile = 100_000
    /// The same two limits over all the files of one API request together
    /// (`ManifestLoader.requestBudgetProblem`).
    public static let maxDocumentsPerRequest = 1_000
    public static let maxNodesPerRequest = 100_000
}

/// The fields each mapping allows: the walker refuses any other, and the schema lists these.
enum FieldNames {
    static let object = ["apiVersion", "kind", "metadata", "spec"]
    static let metadata = ["name", "labels"]
    static let hostSpec = ["uri", "pool", "domainType", "maxParallel", "maxTransfers", "overcommit", "maxBooting", "networks", "bridges"]
    static let overcommit = ["cpu", "memory"]
    static let templateSpec = ["source", "format", "precopy", "readiness", "visibility"]
    static let templateSource = ["path", "blob"]
    static let precopy = ["policy", "hostSelector"]
    static let vmSetSpec = ["replicas", "template", "clone", "resources", "networks", "cloudInit", "readiness", "readinessTimeout",
                            "placement", "updateStrategy", "runStrategy", "start"]
    static let resources = ["vcpus", "memory", "cpuMode"]
    static let network = ["type", "source", "model", "mac"]
    static let cloudInit = ["userData", "metaData", "networkConfig"]
    static let placement = ["hostSelector", "spread", "maxPerHost"]
    static let updateStrategy = ["maxUnavailable"]
    static let gitSourceSpec = ["url", "ref", "path", "interval", "prune", "suspend", "allowEmpty", "secretRef", "webhookSecretRef"]
    static let gitReference = ["branch", "tag", "commit"]
    static let gitCredentials = ["path", "username", "knownHosts"]
    static let gitWebhookSecret = ["path"]
}
