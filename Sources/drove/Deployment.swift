import ArgumentParser
import DroveEngine
import DroveManifest
import DrovePlan
import Foundation

/// Loading manifests and templates, and connecting to hosts through one engine: what plan, up
/// and down share.
struct Deployment {
    let manifest: Manifest
    let images: [String: TemplateImage]
    let engine: Engine
    let connections: FleetConnections

    /// Loads and validates the manifests (printing every error), reads the templates, and
    /// connects to every host. Exits non-zero on an invalid manifest.
    static func open(_ options: ManifestOptions, policy: ManifestPolicy, parallel: Int = ExecutionLimits().global,
                     needImages: Bool = true) async throws -> Deployment {
        let manifest: Manifest
        do {
            manifest = try ManifestLoader(policy: policy).load(paths: options.files)
        } catch {
            for diagnostic in error.diagnostics { Terminal.error(diagnostic.description) }
            throw ExitCode(1)
        }
        let engine = Engine(limits: ExecutionLimits(global: parallel), templateFiles: policy.templateFiles)
        var images: [String: TemplateImage] = [:]
        if needImages {
            let catalog = await engine.images.images(for: manifest.templates)
            for failure in catalog.failures { Terminal.error("error: \(failure)") }
            images = catalog.images
        }
        let connections = await engine.connect(manifest.hosts)
        for (host, reason) in connections.unreachable.sorted(by: { $0.key < $1.key }) {
            Terminal.error("warning: Host/\(host) is unreachable: \(reason)")
        }
        return Deployment(manifest: manifest, images: images, engine: engine, connections: connections)
    }

    var converger: Converger {
        Converger(engine: engine, connections: connections)
    }

    func close() async {
        await connections.close()
    }
}

/// Parses durations like `90s`, `5m`, `1h`, `250ms`.
struct DurationOption: ExpressibleByArgument {
    let duration: Duration

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, seconds) in units where argument.hasSuffix(suffix) {
            guard let value = Double(argument.dropLast(suffix.count)), value > 0 else { return nil }
            duration = .milliseconds(Int64(value * seconds * 1000))
            return
        }
        return nil
    }
}

/// A byte size on the command line, written as manifests write quantities (`20Gi`, `512M`).
struct SizeOption: ExpressibleByArgument {
    let bytes: UInt64

    init?(argument: String) {
        guard let bytes = try? Quantity.parse(argument), bytes > 0 else { return nil }
        self.bytes = bytes
    }
}
