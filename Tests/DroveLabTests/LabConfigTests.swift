import Foundation
import Testing
@testable import DroveLab

@Suite struct LabConfigTests {
    @Test func displayPortRangesAreDisjointAndValid() {
        #expect(LabConfig.displayPorts(index: 1) == 5900...5929)
        #expect(LabConfig.displayPorts(index: 2) == 5930...5959)
        #expect(LabConfig.displayPorts(index: 1, slot: 1) == 8900...8929)
        let last = LabConfig.displayPorts(index: LabConfig.maxHosts, slot: LabConfig.portSlots - 1)
        #expect(last.upperBound <= 65535)
        #expect(LabConfig.displayPorts(index: 1, slot: LabConfig.portSlots).upperBound + 3000 > 65535)
        for index in 1..<LabConfig.maxHosts {
            #expect(LabConfig.displayPorts(index: index).upperBound < LabConfig.displayPorts(index: index + 1).lowerBound)
        }
        #expect(LabConfig.displayPorts(index: LabConfig.maxHosts).upperBound < LabConfig.displayPorts(index: 1, slot: 1).lowerBound)
    }

    @Test func labsSideBySideClaimDifferentPortSlots() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("drove-slots-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: parent) }
        let first = try LabPortSlot.claim(for: parent.appendingPathComponent("a"))
        let second = try LabPortSlot.claim(for: parent.appendingPathComponent("b"))
        #expect(first == 0)
        #expect(second == 1)
        #expect(try LabPortSlot.claim(for: parent.appendingPathComponent("a")) == 0)
    }

    @Test func qemuConfRunsAsRootWithItsOwnPorts() {
        let conf = LabConfig.qemuConf(index: 3)
        let settings = Self.settings(conf)
        #expect(settings["user"] == "\"root\"")
        #expect(settings["group"] == "\"root\"")
        #expect(settings["cgroup_controllers"] == "[ ]")
        #expect(settings["remote_display_port_min"] == "5960")
        #expect(settings["remote_display_port_max"] == "5989")
        #expect(settings["vnc_listen"] == "\"127.0.0.1\"")
        #expect(settings["security_driver"] == "\"none\"")
    }

    @Test func libvirtdLogsToItsOwnFile() {
        let settings = Self.settings(LabConfig.libvirtdConf())
        #expect(settings["log_outputs"] == "\"3:file:/var/log/libvirt/libvirtd.log\"")
        #expect(settings["auth_unix_rw"] == "\"none\"")
        #expect(Self.settings(LabConfig.virtlogdConf())["log_outputs"] == "\"3:file:/var/log/libvirt/virtlogd.log\"")
    }

    @Test func poolXMLNamesDefaultAndEscapesItsPath() throws {
        let uuid = try #require(UUID(uuidString: "6A1B0C2D-3E4F-4A5B-8C6D-7E8F9A0B1C2D"))
        let xml = LabConfig.poolXML(path: "/lab/a&b<c>/node-1/pool", uuid: uuid)
        #expect(xml.contains("<pool type='dir'>"))
        #expect(xml.contains("<name>default</name>"))
        #expect(xml.contains("<uuid>6a1b0c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d</uuid>"))
        #expect(xml.contains("<path>/lab/a&amp;b&lt;c&gt;/node-1/pool</path>"))
    }

    /// `key = value` lines of a libvirt config file, comments skipped.
    static func settings(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            result[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return result
    }
}
