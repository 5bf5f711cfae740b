import Foundation

/// The configuration files each lab host's daemons read, rendered as text. Pure.
public enum LabConfig {
    /// VNC/SPICE ports per host. Lab hosts once shared one network namespace, where every
    /// libvirtd's autoport allocator started at 5900 and collided ("Failed to find an available
    /// port"); each now has its own, and the ranges stay so that a port still names its host.
    /// Guests a lab host can show on VNC at once.
    public static let displayPortsPerHost = 30
    public static let firstDisplayPort = 5900
    public static let maxHosts = 100
    /// Labs in different directories run side by side (a test suite's beside CI's): each has a
    /// slot of its own, a block of ports for all its hosts. libvirt refuses ports above 65535.
    public static let portSlots = (65535 - firstDisplayPort + 1) / (maxHosts * displayPortsPerHost)

    /// The display port range of host `index` (1-based) of the lab in port slot `slot`.
    public static func displayPorts(index: Int, slot: Int = 0) -> ClosedRange<Int> {
        let min = firstDisplayPort + slot * maxHosts * displayPortsPerHost + displayPortsPerHost * (index - 1)
        return min...(min + displayPortsPerHost - 1)
    }

    public static func qemuConf(index: Int, slot: Int = 0) -> String {
        let ports = displayPorts(index: index, slot: slot)
        return """
        # Written by drove lab for \(LabHostLayout.name(index)).

        # QEMU runs as root so it can open images anywhere (the pool is outside /var/lib/libvirt).
        # libvirtd still needs the user libvirt-qemu to exist: it looks it up before reading this.
        user = "root"
        group = "root"

        # Lab hosts share one machine; with no cgroup controllers each libvirtd leaves cgroups alone.
        cgroup_controllers = [ ]

        # Each lab host takes display ports from its own range, so a port names its host.
        remote_display_port_min = \(ports.lowerBound)
        remote_display_port_max = \(ports.upperBound)
        vnc_listen = "127.0.0.1"
        spice_listen = "127.0.0.1"

        # AppArmor/SELinux policy is the machine's, shared by every host and written for the system
        # daemon's paths; confinement of a namespaced daemon's guests would deny its own files.
        security_driver = "none"

        """
    }

    public static func libvirtdConf() -> String {
        """
        # Written by drove lab.

        # Warnings and errors go to this host's own log, which drove shows when the host fails.
        log_outputs = "3:file:/var/log/libvirt/libvirtd.log"

        # The socket is root-only (0700); skip polkit, which would need a system D-Bus.
        auth_unix_rw = "none"

        """
    }

    public static func virtlogdConf() -> String {
        """
        # Written by drove lab.
        log_outputs = "3:file:/var/log/libvirt/virtlogd.log"

        """
    }

    /// The `default` dir pool; `uuid` is fixed at creation so the pool keeps it across restarts.
    public static func poolXML(path: String, uuid: UUID) -> String {
        """
        <pool type='dir'>
          <name>default</name>
          <uuid>\(uuid.uuidString.lowercased())</uuid>
          <target>
            <path>\(escapeXML(path))</path>
          </target>
        </pool>

        """
    }

    static func escapeXML(_ text: String) -> String {
        var out = ""
        for char in text {
            switch char {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.append(char)
            }
        }
        return out
    }
}

/// The libvirt network every lab host has: isolated (no `<forward>`), with a bridge and a DHCP
/// server (libvirt's dnsmasq) inside the host's own network namespace. Pure.
public enum LabNetwork {
    /// What VMs on a lab host attach to (`<interface type='network'><source network='drove-lab'/>`).
    public static let name = "drove-lab"
    /// The bridge; every host has its own network namespace, so the name is the same on all.
    public static let bridge = "drove-br0"

    /// Host `index`'s subnet, `10.77.<index>.0/24`: distinct per host, so an address names its host.
    public static func subnet(index: Int) -> (gateway: String, first: String, last: String, netmask: String) {
        precondition((1...LabConfig.maxHosts).contains(index), "lab host index \(index)")
        let prefix = "10.77.\(index)."
        return (prefix + "1", prefix + "100", prefix + "250", "255.255.255.0")
    }

    /// dnsmasq's `no-ping`: by default it pings an address before offering it and waits for no
    /// answer, which made the tiny guest's DHCP client give up its first round and take about
    /// 8 s to get an address (docs/instant-clones.md). Nothing else lives on a lab host's
    /// isolated network to answer such a ping, so the check only costs time here.
    public static func xml(index: Int) -> String {
        let net = subnet(index: index)
        return """
        <network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>
          <name>\(name)</name>
          <bridge name='\(bridge)' stp='off' delay='0'/>
          <ip address='\(net.gateway)' netmask='\(net.netmask)'>
            <dhcp>
              <range start='\(net.first)' end='\(net.last)'/>
            </dhcp>
          </ip>
          <dnsmasq:options>
            <dnsmasq:option value='no-ping'/>
          </dnsmasq:options>
        </network>

        """
    }
}
