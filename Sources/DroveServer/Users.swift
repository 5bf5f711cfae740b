import DroveAPI
import DroveManifest
import DroveStore
import Foundation
import Hummingbird
import Logging

/// `/api/v1/users`: adding, listing, removing users and rotating their tokens; admins only.
/// A token is answered once, when it is made; the store keeps only its hash.
struct UserService: Sendable {
    let store: Store
    let logger: Logger

    /// Names the server gives principals of its own.
    static let reservedNames: Set<String> = [Principal.admin.name, AuthenticationMiddleware.anonymous.name]

    func add(_ request: APINewUser, by principal: Principal) async throws(APIError) -> APIUserToken {
        try requireAdmin(principal, to: "add users")
        guard Names.isDNSLabel(request.name) else {
            throw APIError(.unprocessableContent, "user name \"\(request.name)\" is not valid: lowercase letters, digits and '-', "
                + "starting and ending with a letter or digit, at most 63 characters")
        }
        guard !Self.reservedNames.contains(request.name) else {
            throw APIError(.unprocessableContent, "user name \"\(request.name)\" is reserved")
        }
        let made = UserToken.make(for: request.name)
        let user: StoredUser
        do {
            user = try await store.addUser(name: request.name, role: request.role.stored, tokenHash: made.hash, by: principal.name)
        } catch {
            throw APIError(error)
        }
        logger.notice("user added", metadata: ["user.name": "\(user.name)", "user.role": "\(user.role.rawValue)", "api.user": "\(principal.name)"])
        return APIUserToken(user: Self.render(user), token: made.token)
    }

    func list(by principal: Principal) async throws(APIError) -> APIUserList {
        try requireAdmin(principal, to: "list users")
        do {
            return APIUserList(items: try await store.users().map(Self.render))
        } catch {
            throw APIError(error)
        }
    }

    func remove(_ name: String, by principal: Principal) async throws(APIError) {
        try requireAdmin(principal, to: "remove users")
        let removed: Bool
        do {
            removed = try await store.removeUser(named: name)
        } catch {
            throw APIError(error)
        }
        guard removed else { throw APIError(.notFound, "user \(name) not found") }
        logger.notice("user removed", metadata: ["user.name": "\(name)", "api.user": "\(principal.name)"])
    }

    func rotate(_ name: String, by principal: Principal) async throws(APIError) -> APIUserToken {
        try requireAdmin(principal, to: "rotate users' tokens")
        let made = UserToken.make(for: name)
        let user: StoredUser?
        do {
            user = try await store.rotateToken(ofUser: name, tokenHash: made.hash)
        } catch {
            throw APIError(error)
        }
        guard let user else { throw APIError(.notFound, "user \(name) not found") }
        logger.notice("user token rotated", metadata: ["user.name": "\(name)", "api.user": "\(principal.name)"])
        return APIUserToken(user: Self.render(user), token: made.token)
    }

    private func requireAdmin(_ principal: Principal, to action: String) throws(APIError) {
        guard principal.role == .admin else { throw APIError(.forbidden, "only an admin may \(action) (\(principal) is not)") }
    }

    static func render(_ user: StoredUser) -> APIUser {
        APIUser(name: user.name, role: Role(user.role), createdAt: user.createdAt, createdBy: user.createdBy, rotatedAt: user.rotatedAt)
    }
}

extension APIRoutes {
    /// `/api/v1/users`, decoded and answered like every other route.
    func registerUsers(on api: RouterGroup<DroveRequestContext>) {
        api.get("users") { _, context in
            JSONResponse.make(.ok, try await users.list(by: try principal(context)))
        }
        api.post("users") { request, context in
            let body: APINewUser = try await decodeJSON(request, context: context)
            return JSONResponse.make(.created, try await users.add(body, by: try principal(context)))
        }
        api.delete("users/{name}") { _, context in
            try await users.remove(context.parameters.get("name") ?? "", by: try principal(context))
            return Response(status: .noContent)
        }
        api.post("users/{name}/rotate") { _, context in
            JSONResponse.make(.ok, try await users.rotate(context.parameters.get("name") ?? "", by: try principal(context)))
        }
    }
}
