import DrovePlan
import Libvirt

extension LibvirtHost {
    /// The most one read returns, so a long log crosses in pieces the caller continues from.
    static let consoleLogChunkBytes: UInt64 = 1 << 20

    /// Reads the VM's console log volume (which virtlogd writes the serial console into) from
    /// `offset`, through libvirt, so it works for a host far away as well.
    public func consoleLog(vm: String, from offset: UInt64) async throws -> ConsoleLogChunk {
        let volume = Naming.consoleLogVolume(vm: vm)
        do {
            guard let log = try await requirePool().volume(named: volume) else {
                throw HostError(host: name, object: "no console log for \(vm)", cause: "volume \(volume) does not exist", transient: false)
            }
            let bytes = try await log.download(offset: offset, length: Self.consoleLogChunkBytes)
            return ConsoleLogChunk(bytes: bytes, nextOffset: offset + UInt64(bytes.count))
        } catch let error as LibvirtError {
            throw HostError(host: name, object: error.object ?? "volume \(volume)", cause: error.description, transient: error.isTransient)
        }
    }
}
