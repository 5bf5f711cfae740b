import DroveManifest
import DrovePlan
import DroveTestSupport
import Foundation
import Libvirt
import Testing
@testable import DroveHost

/// Golden snapshots on a real lab host with the tiny guest: made and marked complete; a pair
/// without its marker is partial, never used, and made anew; a clone whose image cannot be
/// restored boots instead and says so; deleting a golden takes all of it.
@Suite(.enabled(if: LabHost.shouldRun, "no lab host running: start one with `drove lab up`"), .timeLimit(.minutes(5)))
struct GoldenLabTests {
    func connect() async throws -> LibvirtHost {
        let uri = try #require(LabHost.uri(), "CI needs a lab host: `drove lab up` did not run or failed")
        return try await LibvirtHost.connect(name: "node-1", uri: uri, pool: "default", lanes: 4)
    }

    func act(_ host: LibvirtHost, _ kind: Action.Kind) async throws -> String? {
        try await host.perform(Action(id: 0, host: host.name, kind: kind, dependsOn: []), progress: nil)
    }

    /// The tiny template under a fresh digest (so this test's copy and goldens are its own).
    func template() throws -> TemplateImage {
        let path = try #require(LabHost.tinyTemplate, "the tiny template is missing: run scripts/build-tiny-template.sh")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64)
        let digest = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        return TemplateImage(name: "tiny", digest: digest, format: "qcow2", path: path, fileBytes: size, virtualBytes: 32 << 20)
    }

    func clone(_ name: String, of golden: GoldenImage) -> VMInstance {
        VMInstance(name: name, set: "goldtest", ordinal: 0, domainType: "qemu", resources: golden.resources,
                   nics: [NIC(network: Network(), mac: MACAddress.derived(set: "goldtest", ordinal: 0, nic: 0))],
                   clone: .linked, template: golden.template, specHash: "spec1", golden: golden)
    }

    func volumes(_ host: LibvirtHost) async throws -> [String] {
        let pool = try await host.requirePool()
        try await pool.refresh()
        return try await pool.volumeNames()
    }

    @Test("a golden is complete only with its marker; a killed restore's leftover image is never used; a partial golden is never used and is made anew; a clone whose image fails boots instead; deletion takes it all")
    func goldenLifecycle() async throws {
        let host = try await connect()
        let image = try template()
        let set = VMSet(metadata: ObjectMeta(name: "goldtest"), spec: VMSetSpec(
            replicas: 1, template: "tiny", resources: Resources(vcpus: 1, memory: 96 << 20), start: .snapshot))
        let golden = GoldenImage.of(set, template: image, domainType: "qemu", hypervisorVersion: await host.observe().hypervisorVersion)
        let vm = clone("goldtest-\(image.digest.prefix(6))", of: golden)
        let resumed = clone("goldtestr-\(image.digest.prefix(6))", of: golden)
        do {
            _ = try await act(host, .copyTemplate(image))
            _ = try await act(host, .makeGolden(golden))
            var observed = await host.observe()
            #expect(observed.goldens[golden.name.key]?.state == .complete)
            #expect(observed.hypervisorVersion > 0)
            #expect(!observed.foreignDomains.contains(golden.name.domain), "the golden guest's domain is gone after the save")

            // A restore killed midway leaves the VM's image copy behind: the next restore makes
            // its own, and the VM resumes (not boots) under its identity.
            let pool = try await host.requirePool()
            let leftover = try await pool.createVolume(xml: VolumeXML.image(name: Naming.restoreImageVolume(vm: resumed.name), format: "raw", capacity: 0))
            try await leftover.upload(bytes: Array("what a killed restore left".utf8), at: 0)
            _ = try await act(host, .createDisk(resumed))
            _ = try await act(host, .defineVM(resumed))
            let resumedNote = try await act(host, .restoreVM(resumed.name, golden: golden.name.key))
            #expect(resumedNote == nil, "it resumed: \(resumedNote ?? "")")
            #expect(try await #require(try await host.connection.domain(named: resumed.name)).isActive())
            #expect(!(try await volumes(host)).contains(Naming.restoreImageVolume(vm: resumed.name)), "its image copy is gone")
            _ = try await act(host, .removeVM(resumed.name))
            _ = try await act(host, .deleteVolume(resumed.volume))

            // Without its marker the pair may be partial: observed so, and no clone rests on it.
            try await host.requirePool().volume(named: golden.name.readyMarker)?.delete()
            observed = await host.observe()
            #expect(observed.goldens[golden.name.key]?.state == .partial)
            await #expect(throws: HostError.self) { _ = try await act(host, .createDisk(vm)) }
            // Made again from the start (nothing of the old pair is trusted).
            _ = try await act(host, .makeGolden(golden))
            #expect(await host.observe().goldens[golden.name.key]?.state == .complete)

            // A save image that is not one (a cut-off save keeps libvirt's "partial" magic):
            // the clone boots instead, and the note says why.
            let memory = try #require(try await host.requirePool().volume(named: golden.name.memory))
            try await memory.upload(bytes: Array("LibvirtQemudPart".utf8), at: 0)
            _ = try await act(host, .createDisk(vm))
            _ = try await act(host, .defineVM(vm))
            let note = try await act(host, .restoreVM(vm.name, golden: golden.name.key))
            #expect(note?.contains("booted instead") == true, "\(note ?? "no note")")
            let running = try #require(try await host.connection.domain(named: vm.name))
            #expect(try await running.isActive(), "it booted")
            #expect(!(try await volumes(host)).contains(Naming.restoreImageVolume(vm: vm.name)), "its image copy is gone")
        } catch {
            Issue.record(error)
        }
        _ = try? await act(host, .removeVM(vm.name))
        _ = try? await act(host, .deleteVolume(vm.volume))
        _ = try await act(host, .deleteGolden(golden.name))
        _ = try await act(host, .deleteTemplateCopy(digest: image.digest, volume: image.volume))
        _ = try? await act(host, .removeVM(resumed.name))
        _ = try? await act(host, .deleteVolume(resumed.volume))
        let left = try await volumes(host).filter { $0.contains(image.digest) || $0.contains(vm.name) || $0.contains(resumed.name) }
        #expect(left.isEmpty, "\(left)")
        await host.close()
    }
}
