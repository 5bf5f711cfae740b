import DroveEngine
import DroveManifest
import DrovePlan
import Foundation
import Libvirt

/// Figure 2, pre-copy: the deployment of figure 1 (linked, parallel) with the template not yet
/// on the hosts, copied on demand inside the deployment or eagerly ahead of it; and how many
/// bytes a sparse template's copy really sends.
struct PrecopyFigure {
    struct Row: Codable, Sendable {
        var size: String
        var dataBytes: UInt64
        /// On demand: the deployment copies the template to each host, then clones.
        var onDemandResponse: Summary
        /// Eager: the template's copy to every host, done when the template is declared,
        /// before any set asks for it (off the deployment's path).
        var eagerPrecopy: Summary
        /// Eager: the deployment's response time once the copies are there.
        var eagerResponse: Summary
        /// Eager response against on-demand response (negative: faster).
        var responseChange: Double
    }

    struct Sparse: Codable, Sendable {
        var virtualBytes: UInt64
        var dataBytes: UInt64
        /// Blocks the template file really occupies on the machine running Drove.
        var fileAllocatedBytes: UInt64
        var hosts: Int
        /// Data that crossed each host's stream (median over hosts and runs).
        var sentBytesPerHost: Summary
        /// Holes that crossed as hole markers only.
        var holeBytesPerHost: Summary
        /// What the copy takes on each host's disk, as libvirt reports its allocation.
        var allocatedOnHostBytes: Summary
        /// Copy time to all hosts at once (each host's transfers are limited to 1 at a time).
        var copySeconds: Summary
        /// sent / virtual.
        var sentOverVirtual: Double
    }

    struct Result: Codable, Sendable {
        var vms: Int
        var rows: [Row]
        var sparse: Sparse?
    }

    let lab: BenchLab
    let options: BenchOptions
    let images: ImageCache
    let templates: [Size: URL]
    let sparseTemplate: URL?

    func run() async throws -> Result {
        var rows: [Row] = []
        for size in options.sizes {
            var samples = Samples()
            for run in 0..<options.runs {
                for eager in [false, true].rotated(by: run) {
                    // The template is not yet on any host.
                    try await lab.clean(templates: true)
                    let name = "data-\(size.slug)"
                    let set = SetDecl(name: "bench", replicas: options.vms, template: name, clone: .linked, memoryMiB: options.memoryMiB)
                    if eager {
                        let template = TemplateDecl(name: name, path: templates[size]!.path, format: "qcow2", precopy: .ahead)
                        let ahead = try await images.desired(try lab.manifest(templates: [template]))
                        let (copy, _) = try await timed { try await Deploy.converge(ahead) }
                        let deploy = try await images.desired(try lab.manifest(templates: [template], sets: [set]))
                        let (response, _) = try await timed { try await Deploy.converge(deploy) }
                        samples.add("eager-precopy", copy)
                        samples.add("eager-response", response)
                        Progress.say("figure 2: \(size) eager: pre-copy \(Format.seconds(copy)), then deployment \(Format.seconds(response)) (run \(run + 1)/\(options.runs))")
                    } else {
                        let template = TemplateDecl(name: name, path: templates[size]!.path, format: "qcow2", precopy: .onDemand)
                        let deploy = try await images.desired(try lab.manifest(templates: [template], sets: [set]))
                        let (response, _) = try await timed { try await Deploy.converge(deploy) }
                        samples.add("on-demand-response", response)
                        Progress.say("figure 2: \(size) on demand: deployment \(Format.seconds(response)) (run \(run + 1)/\(options.runs))")
                    }
                }
            }
            let onDemand = samples.summary("on-demand-response")!
            let eagerResponse = samples.summary("eager-response")!
            rows.append(Row(size: size.label, dataBytes: size.bytes, onDemandResponse: onDemand,
                            eagerPrecopy: samples.summary("eager-precopy")!, eagerResponse: eagerResponse,
                            responseChange: eagerResponse.median / onDemand.median - 1))
        }

        var sparse: Sparse?
        if let sparseTemplate {
            sparse = try await measureSparse(sparseTemplate)
        }
        try await lab.clean(templates: true)
        return Result(vms: options.vms, rows: rows, sparse: sparse)
    }

    /// Copies the sparse raw template to every host through Drove (pre-copy ahead of need) and
    /// reads what crossed each stream and what the copy takes on each host.
    func measureSparse(_ file: URL) async throws -> Sparse {
        var sent: [Double] = []
        var holes: [Double] = []
        var allocated: [Double] = []
        var times: [Double] = []
        let template = TemplateDecl(name: "sparse", path: file.path, format: "raw", precopy: .ahead)
        let desired = try await images.desired(try lab.manifest(templates: [template]))
        let digest = desired.images["sparse"]!.digest
        for run in 0..<options.runs {
            try await lab.clean(templates: true)
            let recorder = RunRecorder()
            let (elapsed, _) = try await timed { try await Deploy.converge(desired, recorder: recorder) }
            times.append(elapsed)
            let transfers = recorder.transfers
            guard transfers.count == lab.hosts.count else {
                throw BenchError("expected \(lab.hosts.count) template transfers, saw \(transfers.count)")
            }
            for transfer in transfers {
                sent.append(Double(transfer.stats.dataBytes))
                holes.append(Double(transfer.stats.holeBytes))
            }
            for (_, volumes) in try await lab.templateCopies() {
                for (name, info) in volumes where name.contains(digest) && !name.hasSuffix(".ready") {
                    allocated.append(Double(info.allocation))
                }
            }
            Progress.say("figure 2: sparse \(options.sparse.virtual) template (\(options.sparse.data) of data): copied to \(lab.hosts.count) hosts in \(Format.seconds(elapsed)), \(Format.bytes(transfers[0].stats.dataBytes)) sent per host (run \(run + 1)/\(options.runs))")
        }
        var status = stat()
        stat(file.path, &status)
        let sentSummary = Summary(sent)
        return Sparse(virtualBytes: options.sparse.virtual.bytes, dataBytes: options.sparse.data.bytes,
                      fileAllocatedBytes: UInt64(status.st_blocks) * 512, hosts: lab.hosts.count,
                      sentBytesPerHost: sentSummary, holeBytesPerHost: Summary(holes), allocatedOnHostBytes: Summary(allocated),
                      copySeconds: Summary(times), sentOverVirtual: sentSummary.median / Double(options.sparse.virtual.bytes))
    }
}
