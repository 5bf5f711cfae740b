import Foundation

/// One host of a lab: a libvirtd + virtlogd pair in its own mount and network namespaces.
public struct LabHost: Sendable, Equatable {
    public let layout: LabHostLayout

    public init(layout: LabHostLayout) {
        self.layout = layout
    }

    public var name: String { layout.name }
    /// 1-based: `node-1` is index 1.
    public var index: Int { layout.index }
    /// `qemu+unix:///system?socket=<directory>/run/libvirt-sock`.
    public var uri: String { layout.uri }
    public var directory: URL { layout.directory }
    /// The storage pool every lab host has.
    public var pool: String { "default" }
    /// The isolated libvirt network every lab host has (`Lab.networkName`).
    public var network: String { LabNetwork.name }
    /// Nested KVM does not really run guests on the machines this lab targets; TCG does.
    public var domainType: String { "qemu" }
}

/// What `drove lab status` reports about one host.
public struct LabHostStatus: Sendable, Equatable, Codable {
    public var name: String
    public var uri: String
    public var libvirtdPid: Int32?
    public var libvirtdAlive: Bool
    public var virtlogdPid: Int32?
    public var virtlogdAlive: Bool
    /// The host's `LabReaper`; nil when the host was started without one.
    public var reaperPid: Int32?
    public var reaperAlive: Bool = false
    /// The daemon answered a `nodeInfo` call through the binding.
    public var answering: Bool
    public var domainsRunning: Int?
    public var domainsDefined: Int?
    /// Free bytes in the `default` pool, as libvirt reports them.
    public var poolAvailableBytes: UInt64?
    /// Whether the `drove-lab` network runs; nil when it is not defined or libvirtd did not answer.
    public var networkActive: Bool?
    /// Why the host did not answer, or what part of the status could not be read.
    public var error: String?

    public init(name: String, uri: String) {
        self.name = name
        self.uri = uri
        libvirtdAlive = false
        virtlogdAlive = false
        answering = false
    }
}
