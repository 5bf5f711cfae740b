import CLibvirt
import Foundation

/// A domain's console (its serial port) or one of its channels (a virtio-serial port with a
/// unix socket on the host), open as a non-blocking libvirt stream.
///
/// What the guest writes arrives on libvirt's event thread (see `Runtime`) and is yielded to
/// `output` as it comes; `send` writes on the connection's lane. Close it with `close()`;
/// `deinit` releases a stream that was forgotten, so it is freed exactly once.
public final class DomainStream: Sendable {
    /// The guest's output. It ends when the stream closes (the domain stopped, another
    /// session took the console or channel over, or `close()`), and throws when it failed.
    public let output: AsyncThrowingStream<[UInt8], any Error>
    let stream: CHandle
    let connection: Connection
    private let sink: ConsoleSink
    private let closed = Locked(false)

    init(stream: CHandle, connection: Connection, sink: ConsoleSink, output: AsyncThrowingStream<[UInt8], any Error>) {
        self.stream = stream
        self.connection = connection
        self.sink = sink
        self.output = output
    }

    deinit {
        if !closed.withLock({ $0 }) { release(stream, removeCallback: sink.takeCallback()) }
        virStreamFree(stream.raw)
    }

    /// Writes `bytes` to the guest (on a console, as typed keys).
    public func send(_ bytes: [UInt8]) async throws {
        let stream = self.stream
        let subject = sink.subject
        try await connection.lane.run {
            var sent = 0
            while sent < bytes.count {
                let result = bytes.withUnsafeBytes { raw in
                    virStreamSend(stream.raw, raw.baseAddress!.advanced(by: sent).assumingMemoryBound(to: CChar.self), bytes.count - sent)
                }
                if result == -2 {
                    // The stream is non-blocking and its buffer is full: try again shortly.
                    usleep(5_000)
                    continue
                }
                if result < 0 { throw LibvirtError.last("virStreamSend", object: subject) }
                sent += Int(result)
            }
        }
    }

    /// Detaches from the console or channel (the domain keeps running) and ends `output`. Safe
    /// to call more than once.
    public func close() async {
        guard closed.withLock({ closed in defer { closed = true }; return !closed }) else { return }
        let stream = self.stream
        let removeCallback = sink.takeCallback()
        _ = try? await connection.lane.run { release(stream, removeCallback: removeCallback) }
        sink.continuation.finish()
    }
}

/// Stops the stream's events (unless they were stopped already) and aborts it: a console or a
/// channel has no end to finish at, detaching is an abort, as `virsh console` does it.
private func release(_ stream: CHandle, removeCallback: Bool) {
    if removeCallback { virStreamEventRemoveCallback(stream.raw) }
    virStreamAbort(stream.raw)
    virResetLastError()
}

/// Feeds a console's or channel's output from libvirt's event thread; the stream's event registration holds
/// one retain of it.
final class ConsoleSink: Sendable {
    let continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation
    let subject: String
    /// Whether the event callback is still registered: stopped either by the callback itself
    /// (at the stream's end) or by `close()`, exactly once.
    private let registered = Locked(true)

    init(_ continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation, subject: String) {
        self.continuation = continuation
        self.subject = subject
    }

    /// True for the one caller that gets to remove the event callback.
    func takeCallback() -> Bool {
        registered.withLock { registered in
            defer { registered = false }
            return registered
        }
    }

    /// Reads everything the stream holds now. Runs on libvirt's event thread.
    func drain(_ stream: OpaquePointer) {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let received = buffer.withUnsafeMutableBytes { raw in
                virStreamRecv(stream, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
            }
            if received > 0 {
                continuation.yield(Array(buffer.prefix(Int(received))))
                continue
            }
            if received == -2 { return } // nothing more for now
            let error: LibvirtError? = received == 0 ? nil : LibvirtError.last("virStreamRecv", object: subject)
            // The stream ended: without removing the callback, the event loop would call it
            // again and again.
            if takeCallback() { virStreamEventRemoveCallback(stream) }
            virResetLastError()
            continuation.finish(throwing: error)
            return
        }
    }
}

private let consoleTrampoline: virStreamEventCallback = { stream, _, opaque in
    guard let stream, let opaque else { return }
    Unmanaged<ConsoleSink>.fromOpaque(opaque).takeUnretainedValue().drain(stream)
}

extension Domain {
    /// Opens the domain's console (`virDomainOpenConsole` on a non-blocking stream whose
    /// events libvirt's event loop delivers). The domain must be running. `force` takes the
    /// console over from another session that holds it.
    public func openConsole(force: Bool = false) async throws -> DomainStream {
        try await openStream(subject: "console of \(subject)", operation: "virDomainOpenConsole") { raw, stream in
            virDomainOpenConsole(raw, nil, stream, force ? VIR_DOMAIN_CONSOLE_FORCE.rawValue : 0)
        }
    }

    /// Opens the channel whose target is named `name` (`virDomainOpenChannel`), e.g.
    /// `org.drove.identity.0`: what is sent reaches the guest's virtio-serial port of that
    /// name, what the guest writes there arrives on `output`. The domain must be running and
    /// the channel must be of type `unix` (libvirt connects to QEMU's socket for it); libvirt's
    /// own guest agent channel cannot be opened this way. `force` takes the channel over from
    /// another session that holds it.
    public func openChannel(name: String, force: Bool = false) async throws -> DomainStream {
        try await openStream(subject: "channel \(name) of \(subject)", operation: "virDomainOpenChannel") { raw, stream in
            virDomainOpenChannel(raw, name, stream, force ? VIR_DOMAIN_CHANNEL_FORCE.rawValue : 0)
        }
    }

    /// Makes a non-blocking stream, lets `open` attach it (0 on success, -1 on failure), and
    /// registers for its events.
    private func openStream(subject: String, operation: String,
                            _ open: @escaping @Sendable (OpaquePointer, OpaquePointer) -> Int32) async throws -> DomainStream {
        let connection = connection
        let (output, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
        let sink = ConsoleSink(continuation, subject: subject)
        let stream: CHandle = try await call { raw in
            guard let stream = virStreamNew(connection.handle.raw, VIR_STREAM_NONBLOCK.rawValue) else {
                throw LibvirtError.last("virStreamNew", object: subject)
            }
            if open(raw, stream) < 0 {
                let error = LibvirtError.last(operation, object: subject)
                virStreamFree(stream)
                throw error
            }
            let events = Int32(VIR_STREAM_EVENT_READABLE.rawValue | VIR_STREAM_EVENT_ERROR.rawValue | VIR_STREAM_EVENT_HANGUP.rawValue)
            let opaque = Unmanaged.passRetained(sink).toOpaque()
            if virStreamEventAddCallback(stream, events, consoleTrampoline, opaque, { opaque in
                if let opaque { Unmanaged<ConsoleSink>.fromOpaque(opaque).release() }
            }) < 0 {
                let error = LibvirtError.last("virStreamEventAddCallback", object: subject)
                Unmanaged<ConsoleSink>.fromOpaque(opaque).release()
                virStreamAbort(stream)
                virStreamFree(stream)
                virResetLastError()
                throw error
            }
            return CHandle(raw: stream)
        }
        return DomainStream(stream: stream, connection: connection, sink: sink, output: output)
    }
}
