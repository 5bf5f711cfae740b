import DroveManifest
import Foundation
import Testing
@testable import DroveLab

@Suite struct LabManifestTests {
    let layout = LabLayout(directory: URL(fileURLWithPath: "/var/lib/drove/lab", isDirectory: true))

    @Test func rendersOneHostDocumentPerHost() {
        let yaml = LabManifest.render([LabHost(layout: layout.host(1)), LabHost(layout: layout.host(2))])
        #expect(yaml == """
            # Written by `drove lab up`: the hosts of a local lab.
            apiVersion: drove/v1
            kind: Host
            metadata:
              name: node-1
              labels:
                lab: "true"
            spec:
              uri: "qemu+unix:///system?socket=/var/lib/drove/lab/node-1/run/libvirt-sock"
              pool: default
              domainType: qemu
              networks: [drove-lab]
            ---
            apiVersion: drove/v1
            kind: Host
            metadata:
              name: node-2
              labels:
                lab: "true"
            spec:
              uri: "qemu+unix:///system?socket=/var/lib/drove/lab/node-2/run/libvirt-sock"
              pool: default
              domainType: qemu
              networks: [drove-lab]

            """)
    }

    @Test func loadsBackAsTheSameHostObjects() throws {
        let hosts = [LabHost(layout: layout.host(1)), LabHost(layout: layout.host(2))]
        let manifest = try ManifestLoader().load(yaml: LabManifest.render(hosts), name: "hosts.yaml")
        #expect(manifest.hosts == hosts.map(\.manifestHost))
        #expect(manifest.hosts.first?.spec.domainType == .qemu)
        #expect(manifest.hosts.first?.metadata.labels == ["lab": "true"])
    }

    @Test func quotesOddCharactersInTheURI() {
        #expect(LabManifest.quoted(#"a"b\c"#) == #""a\"b\\c""#)
    }
}
