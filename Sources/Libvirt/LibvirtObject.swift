/// A libvirt object (domain, pool, volume) reached through its connection's lane.
protocol LibvirtObject: Sendable {
    var handle: CHandle { get }
    var connection: Connection { get }
    /// How errors name the object, e.g. `domain web-1`.
    var subject: String { get }
}

extension LibvirtObject {
    /// Runs a call against the raw handle on the connection's lane.
    /// `mutating` names a call that changes the host (see `CallStatistics`).
    func call<T: Sendable>(mutating operation: String? = nil, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let handle = self.handle
        return try await connection.lane.run(mutating: operation) { try body(handle.raw) }
    }

    /// Runs a libvirt call that returns 0 on success and -1 on failure.
    func check(_ operation: String, mutating: Bool = false, _ body: @escaping @Sendable (OpaquePointer) -> Int32) async throws {
        let subject = self.subject
        try await call(mutating: mutating ? operation : nil) { raw in
            if body(raw) < 0 { throw LibvirtError.last(operation, object: subject) }
        }
    }
}
