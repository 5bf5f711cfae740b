import DroveAPI
import DroveManifest
import DroveStore

/// Every read and change the portal makes, through the API's own `APIService`, so pages show
/// what the API shows and are refused what the API refuses. The one place that passes the
/// signed-in principal on.
struct PortalAPI: Sendable {
    let service: APIService

    func list(_ kind: ObjectKind, as principal: Principal) async throws(APIError) -> [APIObject] {
        try await service.list(kind, as: principal).items
    }

    func get(_ reference: ObjectReference, as principal: Principal) async throws(APIError) -> APIObject {
        try await service.get(reference, as: principal)
    }

    func vms(set: String? = nil, as principal: Principal) async throws(APIError) -> [VMSummary] {
        try await service.vms(set: set, as: principal).items
    }

    /// The newest `count` events, newest first; one object's when `object` is set.
    func recentEvents(_ count: Int, object: ObjectReference? = nil, as principal: Principal) async throws(APIError) -> [APIEvent] {
        try await service.events(after: 0, limit: count, tail: count, object: object, as: principal).items.reversed()
    }

    func apply(_ sources: [ManifestSource], as principal: Principal) async throws(APIError) -> APIApplyResponse {
        try await service.apply(sources, as: principal)
    }

    func delete(_ reference: ObjectReference, as principal: Principal) async throws(APIError) -> DeleteResult {
        try await service.delete([reference], as: principal)[0]
    }

    /// A VM set's manifest as applied, unredacted (its cloud-init user data included), to apply
    /// it again with a new replica count; nil when there is no such set.
    func storedManifest(ofSet name: String) async throws(APIError) -> (text: String, baseDirectory: String)? {
        do {
            guard let object = try await service.store.object(kind: .vmSet, name: name), !object.deletionRequested else { return nil }
            return (object.manifestText, object.baseDirectory)
        } catch {
            throw APIError(error)
        }
    }
}
