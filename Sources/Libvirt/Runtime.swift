import CLibvirt
import Foundation

/// Process-wide libvirt setup, done once before the first connection opens.
///
/// Domain events and keepalive need libvirt's default event loop registered before any
/// connection exists and a thread that keeps running it; that thread is started here and lives
/// as long as the process.
enum Runtime {
    static let ready: Void = {
        precondition(virInitialize() == 0, "virInitialize failed")
        // Errors are returned to callers as LibvirtError; stop libvirt printing them to stderr too.
        virSetErrorFunc(nil, { _, _ in })
        precondition(virEventRegisterDefaultImpl() == 0, "virEventRegisterDefaultImpl failed")
        let loop = Thread {
            while true {
                if virEventRunDefaultImpl() < 0 {
                    virResetLastError()
                }
            }
        }
        loop.name = "libvirt-events"
        loop.start()
    }()

    static func prepare() {
        _ = ready
    }
}
