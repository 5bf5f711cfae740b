import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal DHCP client (DISCOVER, OFFER, REQUEST, ACK over UDP, broadcast flag set), so a test
/// can ask a lab host's dnsmasq for a lease the way a guest would, without a guest.
enum DHCPProbe {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A BOOTREQUEST of DHCP message `type` (1 DISCOVER, 3 REQUEST) from `mac`. Pure.
    static func packet(type: UInt8, mac: [UInt8], requesting address: [UInt8]? = nil, transaction: UInt32 = 0x5eed_d40e) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 240)
        bytes[0] = 1 // BOOTREQUEST
        bytes[1] = 1 // Ethernet
        bytes[2] = 6
        withUnsafeBytes(of: transaction.bigEndian) { bytes.replaceSubrange(4..<8, with: $0) }
        bytes[10] = 0x80 // broadcast the reply: the client has no address yet
        bytes.replaceSubrange(28..<34, with: mac)
        bytes.replaceSubrange(236..<240, with: [99, 130, 83, 99])
        bytes += [53, 1, type]
        if let address { bytes += [50, 4] + address }
        bytes += [12, 10] + Array("drove-test".utf8)
        bytes.append(255)
        return bytes + [UInt8](repeating: 0, count: max(0, 300 - bytes.count))
    }

    /// The DHCP message type and offered address (`yiaddr`) of a reply, if it is one. Pure.
    static func parse(_ reply: [UInt8]) -> (type: UInt8, address: [UInt8])? {
        guard reply.count >= 240, reply[0] == 2, Array(reply[236..<240]) == [99, 130, 83, 99] else { return nil }
        var index = 240
        while index + 1 < reply.count, reply[index] != 255 {
            let option = reply[index]
            if option == 0 { index += 1; continue }
            let length = Int(reply[index + 1])
            if option == 53, length == 1, index + 2 < reply.count { return (reply[index + 2], Array(reply[16..<20])) }
            index += 2 + length
        }
        return nil
    }

    /// Asks for a lease on `interface` (of this thread's network namespace); returns the address acked.
    static func lease(interface: String, mac: [UInt8]) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        _ = interface.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(interface.utf8.count)) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_port = in_port_t(68).bigEndian
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        } }
        guard bound == 0 else { throw Failure(description: "bind :68: \(String(cString: strerror(errno)))") }

        func exchange(_ request: [UInt8], expecting type: UInt8) throws -> [UInt8] {
            var server = sockaddr_in()
            server.sin_family = sa_family_t(AF_INET)
            server.sin_port = in_port_t(67).bigEndian
            server.sin_addr.s_addr = INADDR_BROADCAST
            let sent = request.withUnsafeBytes { bytes in
                withUnsafePointer(to: &server) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                } }
            }
            guard sent == request.count else { throw Failure(description: "sendto: \(String(cString: strerror(errno)))") }
            var buffer = [UInt8](repeating: 0, count: 1500)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { throw Failure(description: "no DHCP reply of type \(type) on \(interface)") }
                if let reply = parse(Array(buffer[0..<count])), reply.type == type { return reply.address }
            }
        }
        let offered = try exchange(packet(type: 1, mac: mac), expecting: 2)
        let acked = try exchange(packet(type: 3, mac: mac, requesting: offered), expecting: 5)
        return acked.map(String.init).joined(separator: ".")
    }

    /// Runs `body` on a thread of its own that has entered the network namespace of `pid`.
    static func inNetworkNamespace<T: Sendable>(of pid: Int32, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                let fd = open("/proc/\(pid)/ns/net", O_RDONLY | O_CLOEXEC)
                guard fd >= 0, let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "setns") else {
                    continuation.resume(throwing: Failure(description: "cannot open the network namespace of \(pid)"))
                    return
                }
                defer { close(fd) }
                typealias SetNS = @convention(c) (Int32, Int32) -> Int32
                let setns = unsafeBitCast(symbol, to: SetNS.self)
                guard setns(fd, 0x4000_0000 /* CLONE_NEWNET */) == 0 else {
                    continuation.resume(throwing: Failure(description: "setns: \(String(cString: strerror(errno)))"))
                    return
                }
                // This thread now lives in that namespace; it ends with the body.
                continuation.resume(with: Result { try body() })
            }
            thread.start()
        }
    }
}
