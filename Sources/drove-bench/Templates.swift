import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The benchmark's own templates, made in its scratch directory from a fast PRNG: real,
/// incompressible, non-zero data (never zeros, which a sparse-aware copy would skip).
enum TemplateMaker {
    /// A qcow2 image whose every byte of guest-visible data is PRNG output: `dataBytes` of data,
    /// virtual size `dataBytes`. Written as raw first, then converted by `qemu-img`.
    static func dataTemplate(at path: URL, dataBytes: UInt64, seed: UInt64) async throws {
        let raw = path.appendingPathExtension("raw")
        defer { try? FileManager.default.removeItem(at: raw) }
        try writeRandom(to: raw, extents: [(0, dataBytes)], length: dataBytes, seed: seed)
        try await Subprocess.check("/usr/bin/qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw.path, path.path])
    }

    /// A raw image of `virtualBytes` holding `dataBytes` of PRNG data in `extents` equal runs
    /// spread evenly over it, the rest holes: a disk image as a filesystem leaves it.
    static func sparseTemplate(at path: URL, virtualBytes: UInt64, dataBytes: UInt64, extents: Int = 64, seed: UInt64) throws {
        let runLength = dataBytes / UInt64(extents)
        let stride = virtualBytes / UInt64(extents)
        let runs = (0..<UInt64(extents)).map { ($0 * stride, runLength) }
        try writeRandom(to: path, extents: runs, length: virtualBytes, seed: seed)
    }

    /// An empty qcow2 image (for the test driver, which never reads it).
    static func emptyQcow2(at path: URL, virtualBytes: UInt64) async throws {
        try await Subprocess.check("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", path.path, String(virtualBytes)])
    }

    /// Writes PRNG data at the given (offset, length) runs of a file of `length` bytes; the
    /// rest stays holes. The first sector's boot signature is cleared, so a guest's BIOS never
    /// jumps into random bytes.
    static func writeRandom(to url: URL, extents: [(UInt64, UInt64)], length: UInt64, seed: UInt64) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError("\(url.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(length)) == 0 else { throw BenchError("\(url.path): ftruncate: \(String(cString: strerror(errno)))") }
        var generator = Xoshiro256(seed: seed)
        let chunk = 8 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        let words = buffer.bindMemory(to: UInt64.self)
        for (start, runLength) in extents {
            var offset = start
            let end = start + runLength
            while offset < end {
                let count = Int(min(UInt64(chunk), end - offset))
                for index in 0..<(count + 7) / 8 {
                    var word = generator.next()
                    if word == 0 { word = 1 } // never a zero word: the data is data, not a hole
                    words[index] = word
                }
                if offset == 0, count >= 512 {
                    buffer[510] = 0
                    buffer[511] = 0x42
                }
                var written = 0
                while written < count {
                    let n = pwrite(fd, buffer.baseAddress! + written, count - written, off_t(offset) + off_t(written))
                    guard n > 0 else { throw BenchError("\(url.path): write: \(String(cString: strerror(errno)))") }
                    written += n
                }
                offset += UInt64(count)
            }
        }
    }
}

/// xoshiro256** (Blackman and Vigna): fast, and plenty random for data that must not compress.
struct Xoshiro256: RandomNumberGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64) {
        var split = seed
        func splitmix() -> UInt64 {
            split &+= 0x9E37_79B9_7F4A_7C15
            var z = split
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// Runs a program to completion without blocking a cooperative thread.
enum Subprocess {
    struct Result: Sendable {
        var code: Int32
        var output: String
    }

    /// Runs `executable`; standard output and error are captured together.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let box = ProcessBox(process)
        // Read while it runs, so a chatty program never blocks on a full pipe.
        let reader = Task.detached { output.fileHandleForReading.readDataToEndOfFile() }
        let code: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            // Spawned from a fresh thread with no signals blocked (Swift's pool threads block
            // most), so the child starts with a normal signal mask.
            let thread = Thread {
                var nothing = sigset_t()
                sigemptyset(&nothing)
                pthread_sigmask(SIG_SETMASK, &nothing, nil)
                do {
                    try box.process.run()
                } catch {
                    box.process.terminationHandler = nil
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
        let data = await reader.value
        return Result(code: code, output: String(decoding: data, as: UTF8.self))
    }

    /// Runs `executable` and throws unless it exits 0.
    @discardableResult
    static func check(_ executable: String, _ arguments: [String]) async throws -> String {
        let result = try await run(executable, arguments)
        guard result.code == 0 else {
            throw BenchError("\(executable) \(arguments.joined(separator: " ")) exited \(result.code): \(result.output.suffix(2000))")
        }
        return result.output
    }
}

private final class ProcessBox: @unchecked Sendable {
    // @unchecked: the launching thread touches `process` before it starts; afterwards only
    // Foundation's single termination callback does.
    let process: Process
    init(_ process: Process) { self.process = process }
}
