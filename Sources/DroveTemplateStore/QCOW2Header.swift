import Foundation

/// The few fields of a qcow2 header that say whether an image stands alone, read by Drove
/// itself before qemu-img opens the file: an image naming another file is refused without
/// any program opening that file (a FIFO or device there could hang or leak into it).
struct QCOW2Header {
    static let magic: [UInt8] = [0x51, 0x46, 0x49, 0xfb]
    /// Incompatible feature bit 2: the guest data lives in an external file.
    private static let externalDataFileBit: UInt64 = 1 << 2
    private static let dataFileExtension: UInt32 = 0x4441_5441

    var backingFile: String?
    var externalDataFile: String?
    var encrypted: Bool

    /// Whether `prefix` (the file's first bytes) starts like a qcow2 image.
    static func isQCOW2(_ prefix: [UInt8]) -> Bool {
        prefix.count >= 4 && Array(prefix[0..<4]) == magic
    }

    /// Reads the header from `handle`; nil if the file is not qcow2.
    static func read(_ handle: FileHandle) throws -> QCOW2Header? {
        try handle.seek(toOffset: 0)
        let head = [UInt8](try handle.read(upToCount: 112) ?? Data())
        guard isQCOW2(head), head.count >= 72 else { return nil }
        let version = number(head, 4, 4)
        let backingOffset = number(head, 8, 8)
        let backingLength = min(number(head, 16, 4), 1023)
        var header = QCOW2Header(encrypted: number(head, 32, 4) != 0)
        if backingOffset != 0 {
            try handle.seek(toOffset: backingOffset)
            let name = try handle.read(upToCount: Int(backingLength)) ?? Data()
            header.backingFile = String(decoding: name, as: UTF8.self)
        }
        if version >= 3, head.count >= 104, number(head, 72, 8) & externalDataFileBit != 0 {
            header.externalDataFile = try dataFileName(handle, headerLength: number(head, 100, 4)) ?? "name not recorded"
        }
        return header
    }

    /// The data file's name from the header extensions that follow the header, if recorded.
    private static func dataFileName(_ handle: FileHandle, headerLength: UInt64) throws -> String? {
        var offset = headerLength
        // Extensions fit in the first cluster; 64 of them is far more than qemu writes.
        for _ in 0..<64 {
            try handle.seek(toOffset: offset)
            let entry = [UInt8](try handle.read(upToCount: 8) ?? Data())
            guard entry.count == 8 else { return nil }
            let type = UInt32(number(entry, 0, 4)), length = number(entry, 4, 4)
            if type == 0 || length > 4096 { return nil }
            if type == dataFileExtension {
                return String(decoding: try handle.read(upToCount: Int(length)) ?? Data(), as: UTF8.self)
            }
            offset += 8 + (length + 7) / 8 * 8
        }
        return nil
    }

    /// A big-endian unsigned number of `width` bytes at `offset`.
    private static func number(_ bytes: [UInt8], _ offset: Int, _ width: Int) -> UInt64 {
        bytes[offset..<offset + width].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}
