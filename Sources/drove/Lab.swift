import ArgumentParser
import DroveLab
import Foundation

/// `drove lab`: a local lab of isolated libvirt hosts, like `kind` for Kubernetes.
struct Lab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Run a local lab of isolated libvirt hosts on this machine.",
        discussion: "Each host node-<i> is a libvirtd + virtlogd pair in its own mount and network namespaces, reached at "
            + "qemu+unix:///system?socket=<dir>/node-<i>/run/libvirt-sock, with an isolated libvirt network drove-lab "
            + "(DHCP on 10.77.<i>.0/24). Needs root and the Debian packages "
            + "libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils dnsmasq-base iptables.",
        subcommands: [Up.self, Status.self, Down.self, Reaper.self]
    )
}

/// `--dir`, shared by every lab verb.
struct LabDirectoryOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The lab's directory.", discussion: "Default: $DROVE_LAB_DIR, else /var/lib/drove/lab."))
    var dir: String?

    var directory: URL {
        dir.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? LabLayout.defaultDirectory()
    }
}
