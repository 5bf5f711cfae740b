import DroveLab
import Foundation
import Libvirt
import Logging
import Synchronization

/// One benchmark run: sets up (scratch, lab, templates), runs the figures, tears down
/// whatever happens, and reports.
final class Benchmark: Sendable {
    let options: BenchOptions
    /// The one teardown: an interrupt and the main path's error handling both wait for it.
    private let teardownTask = Mutex<Task<Void, Never>?>(nil)

    init(options: BenchOptions) {
        self.options = options
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let started = Date()
        var report = Report(command: CommandLine.arguments.joined(separator: " "),
                            started: ISO8601DateFormatter().string(from: started),
                            machine: await Machine.facts(), options: Report.Options(options))
        installSignalHandlers()
        do {
            try await body(&report)
        } catch {
            Progress.say("error: \(error)")
            await teardown()
            try? report.write(to: options.jsonPath)
            throw error
        }
        await teardown()
        report.seconds = Date().timeIntervalSince(started)
        report.targets = Targets.check(report)
        print(report.render())
        try report.write(to: options.jsonPath)
        Progress.say("results written to \(options.jsonPath)")
    }

    private func body(_ report: inout Report) async throws {
        try FileManager.default.createDirectory(at: options.scratch, withIntermediateDirectories: true)

        // Templates first: writing gigabytes is slow, and no lab is needed for it.
        var templates: [Size: URL] = [:]
        var sparse: URL?
        let needTemplates = options.figures.contains { $0 <= 3 }
        if needTemplates {
            let sizes = options.figures.contains(where: { $0 <= 2 }) ? options.sizes : [options.sizes.min { $0.bytes < $1.bytes }!]
            for (index, size) in sizes.enumerated() {
                let file = options.scratch.appendingPathComponent("data-\(size.slug).qcow2")
                Progress.say("making a qcow2 template holding \(size) of PRNG data: \(file.path)")
                let (elapsed, _) = try await timed {
                    try await TemplateMaker.dataTemplate(at: file, dataBytes: size.bytes, seed: 0xD20E + UInt64(index))
                }
                Progress.say("  made in \(Format.seconds(elapsed))")
                templates[size] = file
            }
            if options.figures.contains(2) {
                let file = options.scratch.appendingPathComponent("sparse.raw")
                Progress.say("making a raw template of \(options.sparse.virtual) holding \(options.sparse.data) of data: \(file.path)")
                try TemplateMaker.sparseTemplate(at: file, virtualBytes: options.sparse.virtual.bytes,
                                                 dataBytes: options.sparse.data.bytes, seed: 0x5AA5)
                sparse = file
            }
        }

        let images = ImageCache()
        if options.needsLab {
            let lab = try await BenchLab.start(directory: options.labDirectory, count: 3)
            report.machine.libvirtDaemon = try? await Machine.libvirtVersion(lab.hosts[0].uri)
            if options.figures.contains(1) {
                Progress.say("figure 1: the research table")
                report.researchTable = try await ResearchTable(lab: lab, options: options, images: images, templates: templates).run()
                try? report.write(to: options.jsonPath)
            }
            if options.figures.contains(2) {
                Progress.say("figure 2: pre-copy")
                report.precopy = try await PrecopyFigure(lab: lab, options: options, images: images, templates: templates,
                                                         sparseTemplate: sparse).run()
                try? report.write(to: options.jsonPath)
            }
            if options.figures.contains(3) {
                Progress.say("figure 3: Drove's own overhead")
                let smallest = templates.keys.min { $0.bytes < $1.bytes }!
                report.overhead = try await OverheadFigure(lab: lab, options: options, images: images,
                                                           templateFile: templates[smallest]!, templateSize: smallest).run()
                try? report.write(to: options.jsonPath)
            }
            if options.figures.contains(6) {
                Progress.say("figure 6: time to ready")
                guard FileManager.default.fileExists(atPath: options.tinyTemplate) else {
                    throw BenchError("figure 6 needs the tiny guest at \(options.tinyTemplate): run scripts/build-tiny-template.sh")
                }
                report.timeToReady = try await TimeToReadyFigure(lab: lab, options: options, images: images,
                                                                 template: URL(fileURLWithPath: options.tinyTemplate)).run()
                try? report.write(to: options.jsonPath)
            }
            if options.figures.contains(7) {
                Progress.say("figure 7: instant clones")
                guard FileManager.default.fileExists(atPath: options.tinyTemplate) else {
                    throw BenchError("figure 7 needs the tiny guest at \(options.tinyTemplate): run scripts/build-tiny-template.sh")
                }
                report.instantClones = try await InstantClonesFigure(lab: lab, options: options, images: images,
                                                                     template: URL(fileURLWithPath: options.tinyTemplate)).run()
                try? report.write(to: options.jsonPath)
            }
        }
        if options.figures.contains(4) {
            Progress.say("figure 4: scale without QEMU")
            report.scale = try await ScaleFigure(options: options).run()
            try? report.write(to: options.jsonPath)
        }
        if options.figures.contains(5) {
            Progress.say("figure 5: the controller as one fleet")
            report.controller = try await ControllerFigure(options: options).run()
        }
    }

    /// Takes the lab down and deletes the scratch directory, once; every caller waits until
    /// that is done (an interrupt may arrive while the main path is failing, or the other way).
    func teardown() async {
        let task = teardownTask.withLock { current -> Task<Void, Never> in
            if let current { return current }
            let options = self.options
            let task = Task {
                // By directory, so hosts still starting when an interrupt came are stopped too.
                if options.needsLab { await BenchLab.stop(directory: options.labDirectory) }
                try? FileManager.default.removeItem(at: options.scratch)
            }
            current = task
            return task
        }
        await task.value
    }

    /// Ctrl-C or SIGTERM: take the lab down before leaving.
    private func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                Progress.say("interrupted: taking the lab down")
                Task {
                    await self.teardown()
                    exit(130)
                }
            }
            source.resume()
            SignalSources.keep(source)
        }
    }
}

/// Keeps the signal sources alive for the life of the process.
enum SignalSources {
    // Touched only while installing the handlers, at start-up, from one task.
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    static func keep(_ source: any DispatchSourceSignal) { sources.append(source) }
}

/// The machine the numbers come from.
struct Machine: Codable, Sendable {
    var processors: Int
    var memoryBytes: UInt64
    var cpuModel: String
    var kernel: String
    var os: String
    var qemu: String
    /// `libvirtd --version` of the machine (the lab runs this daemon).
    var libvirtLibrary: String
    var libvirtDaemon: String?
    var swift: String

    static func facts() async -> Machine {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "?"
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let os = (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("PRETTY_NAME=") }
            .map { $0.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) } ?? "?"
        let qemu = (try? await Subprocess.run("/usr/bin/qemu-system-x86_64", ["--version"]))?.output
            .split(separator: "\n").first.map(String.init) ?? "?"
        let swift = (try? await Subprocess.run("/usr/bin/env", ["swift", "--version"]))?.output
            .split(separator: "\n").first { $0.contains("Swift version") }.map(String.init) ?? "?"
        let libvirtd = (try? await Subprocess.run("/usr/sbin/libvirtd", ["--version"]))?.output
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        return Machine(processors: ProcessInfo.processInfo.activeProcessorCount, memoryBytes: ProcessInfo.processInfo.physicalMemory,
                       cpuModel: cpu, kernel: kernel, os: os, qemu: qemu, libvirtLibrary: libvirtd,
                       libvirtDaemon: nil, swift: swift)
    }

    static func libvirtVersion(_ uri: String) async throws -> String {
        let connection = try await Connection.open(uri, lanes: 1)
        let version = try await connection.libvirtVersion()
        await connection.close()
        return versionString(version)
    }

    static func versionString(_ version: UInt64) -> String {
        "\(version / 1_000_000).\(version / 1000 % 1000).\(version % 1000)"
    }
}
