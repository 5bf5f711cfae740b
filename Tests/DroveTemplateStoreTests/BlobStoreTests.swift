import DroveTemplateStore
import Foundation
import Logging
import Testing

/// A fresh store in a temporary directory, and images made there with the real qemu-img.
struct Scratch {
    let directory: String
    let store: TemplateBlobStore

    var images: String { directory + "/images" }
    var incomingEntries: [String] { (try? FileManager.default.contentsOfDirectory(atPath: directory + "/store/incoming")) ?? [] }
    var blobEntries: [String] { (try? FileManager.default.contentsOfDirectory(atPath: directory + "/store/sha256")) ?? [] }

    /// `qemu-img create ARGS` in the images directory; returns the path of the image made.
    func image(_ name: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-img")
        process.arguments = ["create", "-q"] + arguments.map { $0 == "NAME" ? name : $0 }
        process.currentDirectoryURL = URL(fileURLWithPath: images)
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "qemu-img create \(arguments)")
        return images + "/" + name
    }

    /// Uploads `path` in 64 KiB chunks and finishes; returns the stored blob.
    func push(_ path: String, format: BlobFormat, limit: UInt64 = 1 << 30) async throws -> StoredBlob {
        let upload = try store.beginUpload(format: format, limit: limit)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            for start in stride(from: 0, to: bytes.count, by: 64 << 10) {
                try await upload.write(bytes.subdata(in: start..<min(bytes.count, start + (64 << 10))))
            }
            return try await upload.finish { $0 }
        } catch {
            await upload.abort()
            throw error
        }
    }
}

func withScratch<T>(_ body: (Scratch) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drove-blob-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory + "/images", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try TemplateBlobStore(directory: directory + "/store", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    return try await body(Scratch(directory: directory, store: store))
}

func refusal(_ error: any Error) -> ImageRefusal? {
    if case let .refused(refusal)? = error as? TemplateStoreError { return refusal }
    return nil
}

@Suite("The template blob store")
struct BlobStoreTests {
    @Test("a standalone qcow2 is stored under its SHA-256 with its format and virtual size")
    func storesQCOW2() async throws {
        try await withScratch { scratch in
            let path = try scratch.image("alpine.qcow2", ["-f", "qcow2", "NAME", "8M"])
            let blob = try await scratch.push(path, format: .qcow2)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(blob.digest == "sha256:" + sha256Hex(path))
            #expect(blob.size == UInt64(bytes.count))
            #expect(blob.format == .qcow2)
            #expect(blob.virtualSize == 8 << 20)
            #expect(blob.path == scratch.directory + "/store/sha256/" + blob.digest.dropFirst(7))
            #expect(try Data(contentsOf: URL(fileURLWithPath: blob.path)) == bytes)
            #expect(scratch.store.path(of: blob.digest) == blob.path)
            #expect(scratch.incomingEntries.isEmpty)
        }
    }

    @Test("a raw image is stored as raw; its virtual size is its length")
    func storesRaw() async throws {
        try await withScratch { scratch in
            let path = try scratch.image("disk.raw", ["-f", "raw", "NAME", "1M"])
            let blob = try await scratch.push(path, format: .raw)
            #expect(blob.format == .raw)
            #expect(blob.virtualSize == 1 << 20)
        }
    }

    @Test("the same bytes twice are stored once, and the second copy is dropped")
    func dedupes() async throws {
        try await withScratch { scratch in
            let path = try scratch.image("a.qcow2", ["-f", "qcow2", "NAME", "4M"])
            let first = try await scratch.push(path, format: .qcow2)
            let second = try await scratch.push(path, format: .qcow2)
            #expect(first == second)
            #expect(scratch.blobEntries == [String(first.digest.dropFirst(7))])
            #expect(scratch.incomingEntries.isEmpty)
        }
    }

    @Test("a qcow2 with a backing file is refused, naming it, and nothing is kept")
    func refusesBackingFile() async throws {
        try await withScratch { scratch in
            _ = try scratch.image("base.qcow2", ["-f", "qcow2", "NAME", "4M"])
            let overlay = try scratch.image("overlay.qcow2", ["-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "NAME"])
            let error = await #expect(throws: TemplateStoreError.self) { try await scratch.push(overlay, format: .qcow2) }
            #expect(refusal(error!) == .backingFile("base.qcow2"))
            #expect("\(error!)".contains("backing file (base.qcow2)"))
            #expect(scratch.blobEntries.isEmpty)
            #expect(scratch.incomingEntries.isEmpty)
        }
    }

    @Test("a qcow2 with an external data file is refused, naming it, and nothing is kept")
    func refusesDataFile() async throws {
        try await withScratch { scratch in
            let image = try scratch.image("split.qcow2", ["-f", "qcow2", "-o", "data_file=split.data", "NAME", "4M"])
            let error = await #expect(throws: TemplateStoreError.self) { try await scratch.push(image, format: .qcow2) }
            #expect(refusal(error!) == .externalDataFile("split.data"))
            #expect("\(error!)".contains("external data file (split.data)"))
            #expect(scratch.blobEntries.isEmpty)
            #expect(scratch.incomingEntries.isEmpty)
        }
    }

    @Test("a file that is not what the push declares is refused")
    func refusesFormatMismatch() async throws {
        try await withScratch { scratch in
            let qcow2 = try scratch.image("a.qcow2", ["-f", "qcow2", "NAME", "4M"])
            let raw = try scratch.image("b.raw", ["-f", "raw", "NAME", "1M"])
            let asRaw = await #expect(throws: TemplateStoreError.self) { try await scratch.push(qcow2, format: .raw) }
            #expect(refusal(asRaw!) == .formatMismatch(declared: .raw, actual: .qcow2))
            let asQCOW2 = await #expect(throws: TemplateStoreError.self) { try await scratch.push(raw, format: .qcow2) }
            #expect(refusal(asQCOW2!) == .formatMismatch(declared: .qcow2, actual: .raw))
            #expect(scratch.blobEntries.isEmpty)
            #expect(scratch.incomingEntries.isEmpty)
        }
    }

    @Test("a write past the limit is refused and removes what was received")
    func refusesPastTheLimit() async throws {
        try await withScratch { scratch in
            let upload = try scratch.store.beginUpload(format: .raw, limit: 1000)
            try await upload.write(Data(count: 600))
            #expect(scratch.incomingEntries.count == 1)
            let error = await #expect(throws: TemplateStoreError.self) { try await upload.write(Data(count: 600)) }
            guard case .tooLarge(1000)? = error else { Issue.record("expected tooLarge, got \(String(describing: error))"); return }
            #expect(scratch.incomingEntries.isEmpty)
            await #expect(throws: TemplateStoreError.self) { try await upload.write(Data(count: 1)) }
        }
    }

    @Test("an aborted upload, or one dropped unfinished, leaves no file")
    func abortRemoves() async throws {
        try await withScratch { scratch in
            let upload = try scratch.store.beginUpload(format: .raw, limit: 1 << 20)
            try await upload.write(Data(count: 4096))
            await upload.abort()
            #expect(scratch.incomingEntries.isEmpty)
            do {
                let dropped = try scratch.store.beginUpload(format: .raw, limit: 1 << 20)
                try await dropped.write(Data(count: 4096))
                #expect(scratch.incomingEntries.count == 1)
            }
            // The dropped upload's file goes when its last reference does, which may be the
            // upload's own queue finishing its last write on another thread: wait a moment.
            let deadline = ContinuousClock.now + .seconds(5)
            while !scratch.incomingEntries.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(scratch.incomingEntries.isEmpty)
            #expect(scratch.blobEntries.isEmpty)
        }
    }

    @Test("opening the store empties incoming/ (uploads a crash cut off)")
    func openingEmptiesIncoming() async throws {
        try await withScratch { scratch in
            #expect(FileManager.default.createFile(atPath: scratch.directory + "/store/incoming/left-by-a-crash", contents: Data(count: 10)))
            #expect(scratch.incomingEntries.count == 1)
            _ = try TemplateBlobStore(directory: scratch.directory + "/store", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            #expect(scratch.incomingEntries.isEmpty)
        }
    }

    @Test("garbage collection removes unreferenced blobs and keeps referenced ones")
    func collectsGarbage() async throws {
        try await withScratch { scratch in
            let kept = try await scratch.push(try scratch.image("a.qcow2", ["-f", "qcow2", "NAME", "4M"]), format: .qcow2)
            let orphan = try await scratch.push(try scratch.image("b.raw", ["-f", "raw", "NAME", "1M"]), format: .raw)
            let removed = try await scratch.store.collectGarbage { [kept.digest] }
            #expect(removed == [orphan.digest])
            #expect(scratch.store.path(of: kept.digest) != nil)
            #expect(scratch.store.path(of: orphan.digest) == nil)
        }
    }

    @Test("a blob stored while a collection reads the references is not collected")
    func pinnedDuringCollection() async throws {
        try await withScratch { scratch in
            let path = try scratch.image("a.qcow2", ["-f", "qcow2", "NAME", "4M"])
            // The push finishes, and its body returns, while the collection is reading its
            // references: those do not name the blob, yet the collection must keep it.
            let removed = try await scratch.store.collectGarbage {
                _ = try await scratch.push(path, format: .qcow2)
                return []
            }
            #expect(removed.isEmpty)
            #expect(scratch.blobEntries.count == 1)
            // The next collection, seeing it unreferenced, removes it.
            #expect(try await scratch.store.collectGarbage { [] }.count == 1)
        }
    }
}

func sha256Hex(_ path: String) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try? process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(String(decoding: output, as: UTF8.self).prefix(64))
}
