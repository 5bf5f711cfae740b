import DroveAPI
import DroveManifest
import DrovePlan
import DroveStore
import Foundation
import Hummingbird
import Logging

/// What the API does, apart from HTTP: the routes decode a request, call one of these methods,
/// and encode what it returns. Every failure is an `APIError` carrying its HTTP status.
struct APIService: Sendable {
    let store: Store
    let controller: any ControllerHandle
    /// Which host URIs and files applied manifests may name.
    let policy: ManifestPolicy
    let logger: Logger

    static let maxEventPage = 1000
    static let defaultEventPage = 100

    // MARK: - Apply and plan

    /// Validates `body` as strictly as `drove validate`, with the store's desired objects
    /// standing by for references, checks that `principal` may declare what it declares, then
    /// stores every object of `body` (owned by `principal` if new) and enqueues what it changed.
    /// `pushedBlob`: the template store image this request itself has just stored.
    func apply(_ body: [ManifestSource], as principal: Principal, pushedBlob: String? = nil) async throws(APIError) -> APIApplyResponse {
        let access = try await access(principal)
        try access.requireDeployer(to: "apply manifests")
        let merged = try await load(body)
        try access.checkApply(merged.requested, in: merged.manifest, pushedBlob: pushedBlob)
        let objects: [AppliedObject]
        do {
            objects = try AppliedObject.objects(in: merged.manifest, sources: merged.sources, policy: policy)
                .filter { merged.requested.contains($0.reference) }
        } catch {
            throw APIError(error)
        }
        let results: [ApplyResult]
        do {
            results = try await store.apply(objects, author: access.author)
        } catch {
            throw APIError(error)
        }

        var response: [APIApplyResult] = []
        var changed: [ObjectReference] = []
        for (object, result) in zip(objects, results) {
            let reference = object.reference
            switch result {
            case .created:
                response.append(APIApplyResult(kind: reference.kind.rawValue, name: reference.name, result: "created", generation: 1))
                changed.append(reference)
            case let .configured(generation):
                response.append(APIApplyResult(kind: reference.kind.rawValue, name: reference.name, result: "configured", generation: generation))
                changed.append(reference)
            case .unchanged:
                let generation = merged.storedGenerations[reference] ?? 1
                response.append(APIApplyResult(kind: reference.kind.rawValue, name: reference.name, result: "unchanged", generation: generation))
            }
        }
        // A changed host or template can move or rebuild any set: look at every set again.
        let everySet = changed.contains { $0.kind == .host || $0.kind == .template }
            ? merged.manifest.vmSets.map { ObjectReference(kind: .vmSet, name: $0.metadata.name) } : []
        await enqueue(changed + everySet)
        logger.info("applied", metadata: [
            "api.objects": "\(objects.count)", "api.changed": "\(changed.map(\.description).joined(separator: ","))",
            "api.user": "\(principal.name)",
        ])
        return APIApplyResponse(results: response)
    }

    /// Refuses a push `principal` could not apply: a viewer's, or a deployer's over another
    /// user's Template (the store checks again when the Template is applied).
    func checkMayPush(template name: String, as principal: Principal) async throws(APIError) {
        let access = try await access(principal)
        try access.requireDeployer(to: "push templates")
        guard !access.isAdmin else { return }
        let stored: StoredObject?
        do {
            stored = try await store.object(kind: .template, name: name)
        } catch {
            throw APIError(error)
        }
        if let stored, stored.owner != principal.name {
            throw APIError(StoreError.ownedByAnotherUser(stored.reference, owner: stored.owner, user: principal.name))
        }
    }

    /// What the controller would do if `body` were applied.
    func plan(_ body: [ManifestSource], as principal: Principal) async throws -> APIPlan {
        let access = try await access(principal)
        let merged = try await load(body)
        try access.checkApply(merged.requested, in: merged.manifest)
        let plan: Plan
        do {
            plan = try await controller.plan(for: merged.manifest)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.internalServerError, "planning failed: \(error)")
        }
        return APIPlan(
            actions: plan.actions.map {
                APIPlanAction(id: $0.id, host: $0.host, action: $0.verb, summary: $0.summary, dependsOn: $0.dependsOn)
            },
            unschedulable: plan.unschedulable.map { APIUnschedulable(vm: $0.vm, cause: $0.cause.rawValue, reason: $0.reason) },
            notes: plan.notes)
    }

    /// The body, loaded together with the stored desired objects it does not declare itself,
    /// so that a VM set may name a template applied earlier.
    struct Merged {
        var manifest: Manifest
        /// Stored sources first, then the body's.
        var sources: [ManifestSource]
        /// The objects the body declares, in its order.
        var requested: [ObjectReference]
        var storedGenerations: [ObjectReference: Int]
    }

    static let storedSourcePrefix = "store:"

    func load(_ body: [ManifestSource]) async throws(APIError) -> Merged {
        var names = Set<String>()
        for source in body {
            if source.name.hasPrefix(Self.storedSourcePrefix) {
                throw APIError(.badRequest, "source name \"\(source.name)\" is reserved (it starts with \"\(Self.storedSourcePrefix)\")")
            }
            if !names.insert(source.name).inserted {
                throw APIError(.badRequest, "source name \"\(source.name)\" appears more than once in the request")
            }
        }
        let stored: [StoredObject]
        do {
            stored = try await store.objects().filter { !$0.deletionRequested }
        } catch {
            throw APIError(error)
        }
        let generations = Dictionary(stored.map { ($0.reference, $0.generation) }, uniquingKeysWith: { first, _ in first })
        var standby = stored
        // Stored objects come first, so an object the body declares again is reported as a
        // duplicate at the body's position; those stored copies are left out and the body is
        // checked again. Two passes at most.
        for pass in 1...2 {
            let storedSources = standby.map {
                ManifestSource(name: Self.storedSourcePrefix + $0.reference.description, text: $0.manifestText, baseDirectory: $0.baseDirectory)
            }
            let sources = storedSources + body
            let result = ManifestLoader(policy: policy).check(sources: sources)
            if let manifest = result.manifest {
                let requested = manifest.references.filter { reference in
                    manifest.origins[reference].map { names.contains($0.file) } ?? false
                }
                guard !requested.isEmpty else {
                    throw APIError(.badRequest, "the request declares no objects (send drove/v1 manifests as YAML)")
                }
                return Merged(manifest: manifest, sources: sources, requested: requested, storedGenerations: generations)
            }
            // A body object declared again over a stored one: the stored one came first.
            let storedReferences = Set(standby.map(\.reference))
            let redeclared = Set(result.diagnostics.compactMap { diagnostic -> ObjectReference? in
                guard diagnostic.code == .duplicateObject, names.contains(diagnostic.location.file),
                      let reference = Self.reference(diagnostic.subject), storedReferences.contains(reference) else { return nil }
                return reference
            })
            if pass == 2 || redeclared.isEmpty {
                throw .invalidManifests(result.diagnostics)
            }
            standby.removeAll { redeclared.contains($0.reference) }
        }
        preconditionFailure("unreachable: the second pass returns or throws")
    }

    /// `Kind/name` back into a reference.
    static func reference(_ subject: String) -> ObjectReference? {
        guard let slash = subject.firstIndex(of: "/"),
              let kind = ObjectKind(rawValue: String(subject[..<slash])) else { return nil }
        return ObjectReference(kind: kind, name: String(subject[subject.index(after: slash)...]))
    }

    // MARK: - Objects

    func list(_ kind: ObjectKind, as principal: Principal) async throws(APIError) -> APIObjectList {
        let access = try await access(principal)
        do {
            let objects = try await store.objects(kind: kind).filter { access.mayRead($0.reference) }
            let summaries = await summaries(for: objects)
            var items: [APIObject] = []
            for object in objects {
                let status = try await store.status(kind: object.reference.kind, name: object.reference.name)
                items.append(Self.render(object, status: status, summary: summaries[object.reference]))
            }
            return APIObjectList(items: items)
        } catch {
            throw APIError(error)
        }
    }

    func get(_ reference: ObjectReference, as principal: Principal) async throws(APIError) -> APIObject {
        try await access(principal).requireReadable(reference)
        do {
            guard let object = try await store.object(kind: reference.kind, name: reference.name) else {
                throw APIError.notFound(reference)
            }
            let status = try await store.status(kind: reference.kind, name: reference.name)
            return Self.render(object, status: status, summary: await summaries(for: [object])[reference])
        } catch let error as APIError {
            throw error
        } catch let error as StoreError {
            throw APIError(error)
        } catch {
            throw APIError(.internalServerError, "\(reference): \(error)")
        }
    }

    /// Marks objects for deletion in one transaction and enqueues them (and, for a host,
    /// every VM set, which may have had VMs there).
    func delete(_ references: [ObjectReference], as principal: Principal) async throws(APIError) -> [DeleteResult] {
        guard !references.isEmpty else { throw APIError(.badRequest, "the request names no objects to delete") }
        let access = try await access(principal)
        try access.requireDeployer(to: "delete objects")
        for reference in references where !access.isAdmin {
            guard reference.kind == .template || reference.kind == .vmSet else {
                throw APIError(.forbidden, "\(reference): only an admin deletes Hosts and GitSources (\(principal) is not)")
            }
        }
        let results: [DeleteResult]
        do {
            results = try await store.delete(references, author: access.author)
        } catch {
            throw APIError(error)
        }
        let requested = zip(references, results).filter { $0.1 == .deletionRequested }.map(\.0)
        var keys = requested
        if requested.contains(where: { $0.kind == .host }) {
            let sets = (try? await store.objects(kind: .vmSet)) ?? []
            keys += sets.filter { !$0.deletionRequested }.map(\.reference)
        }
        await enqueue(keys)
        if !requested.isEmpty {
            logger.info("deletion requested", metadata: ["api.objects": "\(requested.map(\.description).joined(separator: ","))"])
        }
        return results
    }

    // MARK: - Git sources

    /// Asks for a sync of the source now.
    func sync(_ name: String, as principal: Principal) async throws(APIError) -> APISyncResponse {
        try await access(principal).requireDeployer(to: "sync GitSources")
        let source = try await gitSource(name)
        let response = try await requestSync(source, message: nil)
        do {
            try await store.appendEvent(NewEvent(object: ObjectReference(kind: .gitSource, name: name), reason: EventReason.syncRequested.rawValue,
                                                 message: "sync requested by \(principal.name)", actor: principal.name))
        } catch {
            // The sync is asked for already; a lost audit line is logged, not answered as a failure.
            logger.error("sync request not recorded as an event", metadata: [
                "gitsource.name": "\(name)", "api.user": "\(principal.name)", "error": "\(error)",
            ])
        }
        return response
    }

    /// A push webhook: a sync, when the body is signed with the source's webhook secret and
    /// names the ref the source follows (or no ref: a ping). Nothing else happens either way.
    func webhook(_ name: String, headers: HTTPFields, body: [UInt8]) async throws(APIError) -> APISyncResponse {
        let source = try await gitSource(name)
        guard let path = source.spec.webhookSecretRef else {
            throw APIError(.forbidden, "GitSource/\(name) takes no webhooks: it names no spec.webhookSecretRef")
        }
        let secret = try webhookSecret(path, for: name)
        let sender: Webhook.Sender
        switch Webhook.verify(headers, body: body, secret: secret) {
        case let .success(verified): sender = verified
        case let .failure(refusal):
            logger.warning("webhook refused", metadata: ["gitsource.name": "\(name)", "error": "\(refusal.message)"])
            throw APIError(.unauthorized, "GitSource/\(name): \(refusal.message)")
        }
        if let pushed = Webhook.pushedRef(body), pushed != source.spec.ref.refName {
            let follows = source.spec.ref.refName ?? source.spec.ref.description
            return APISyncResponse(name: name, result: "ignored", requestedAt: nil, message: "a push to \(pushed); the source follows \(follows)")
        }
        return try await requestSync(source, message: "\(sender.rawValue) push")
    }

    private func requestSync(_ source: GitSource, message: String?) async throws(APIError) -> APISyncResponse {
        let name = source.metadata.name
        if source.spec.suspend {
            throw APIError(.conflict, "GitSource/\(name) is suspended (spec.suspend: true); resume it to sync")
        }
        let requested: Date?
        do {
            requested = try await controller.requestSync(gitSource: name)
        } catch {
            throw APIError(.internalServerError, "GitSource/\(name): \(error)")
        }
        guard let requested else { throw APIError.notFound(ObjectReference(kind: .gitSource, name: name)) }
        logger.info("git sync requested", metadata: ["gitsource.name": "\(name)", "api.by": "\(message ?? "API")"])
        return APISyncResponse(name: name, result: "requested", requestedAt: requested, message: message)
    }

    /// A stored, desired GitSource, loaded under the server's policy.
    func gitSource(_ name: String) async throws(APIError) -> GitSource {
        let reference = ObjectReference(kind: .gitSource, name: name)
        let stored: StoredObject?
        do {
            stored = try await store.object(kind: .gitSource, name: name)
        } catch {
            throw APIError(error)
        }
        guard let stored, !stored.deletionRequested else { throw APIError.notFound(reference) }
        let result = ManifestLoader(policy: policy).check(sources: [
            ManifestSource(name: Self.storedSourcePrefix + reference.description, text: stored.manifestText, baseDirectory: stored.baseDirectory),
        ])
        guard let source = result.manifest?.gitSource(named: name) else {
            throw APIError(.internalServerError, "\(reference): its stored manifest no longer loads", diagnostics: result.diagnostics)
        }
        return source
    }

    /// The webhook secret, checked against the credentials directory again (a symbolic link
    /// may have changed since the source was applied). Never logged or returned.
    private func webhookSecret(_ path: String, for name: String) throws(APIError) -> [UInt8] {
        guard ManifestPolicy.allows(policy.credentialFiles, path: path),
              let handle = FileHandle(forReadingAtPath: path) else {
            throw APIError(.internalServerError, "GitSource/\(name): cannot read its webhook secret \(path)")
        }
        defer { try? handle.close() }
        let text = String(decoding: ((try? handle.read(upToCount: 64 << 10)) ?? nil) ?? Data(), as: UTF8.self)
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else { throw APIError(.internalServerError, "GitSource/\(name): its webhook secret \(path) is empty") }
        return Array(secret.utf8)
    }

    // MARK: - Events and VMs

    /// Events `principal` may read (so a deployer's page may hold fewer than `limit`; `next`
    /// still moves past every event looked at).
    func events(after: Int64, limit: Int, tail: Int?, object: ObjectReference?, as principal: Principal) async throws(APIError) -> APIEventList {
        let access = try await access(principal)
        if let object { try access.requireReadable(object) }
        do {
            let events = if let tail {
                try await store.latestEvents(limit: min(tail, Self.maxEventPage), object: object)
            } else {
                try await store.events(after: after, limit: min(limit, Self.maxEventPage), object: object)
            }
            return APIEventList(items: events.filter { access.mayRead($0.object) }.map(Self.render), next: events.last?.id ?? after)
        } catch {
            throw APIError(error)
        }
    }

    /// A call to the controller: its `APIError`s as they are, anything else a 500.
    static func fromController<T>(_ body: () async throws -> T) async throws(APIError) -> T {
        do {
            return try await body()
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.internalServerError, "\(error)")
        }
    }

    /// The replicas sharing the store, and which leads.
    func replicas(as principal: Principal) async throws(APIError) -> APIControllerList {
        _ = try await access(principal)
        return try await Self.fromController { try await controller.replicas() }
    }

    func vms(set: String?, as principal: Principal) async throws(APIError) -> APIVMList {
        let access = try await access(principal)
        let all = try await Self.fromController { try await controller.vms() }
        let items = all.filter { (set == nil || $0.vmSet == set) && access.mayRead(ObjectReference(kind: .vmSet, name: $0.vmSet)) }
            .sorted { ($0.vmSet, $0.ordinal, $0.name) < ($1.vmSet, $1.ordinal, $1.name) }
        return APIVMList(items: items)
    }

    /// The VM's console log from `offset`: 404 for a VM on no host, 502 when its host could
    /// not give the log (it does not answer, or has no log for the VM).
    func consoleLog(vm: String, from offset: UInt64, as principal: Principal) async throws(APIError) -> APIConsoleLog {
        let access = try await access(principal)
        if !access.isAdmin, let summary = try await Self.fromController({ try await controller.vms() }).first(where: { $0.name == vm }) {
            try access.requireReadable(ObjectReference(kind: .vmSet, name: summary.vmSet))
        }
        let log: APIConsoleLog?
        do {
            log = try await controller.consoleLog(vm: vm, from: offset)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.badGateway, "the console log of vm \(vm) cannot be read: \(error)")
        }
        guard let log else { throw APIError(.notFound, "vm \(vm) not found: no host the controller watches holds it") }
        return log
    }

    // MARK: - Access

    /// What `principal` may read and change, from the stored templates' owners and visibility
    /// and the VM sets' owners.
    func access(_ principal: Principal) async throws(APIError) -> Access {
        guard principal.role == .deployer else { return Access(principal: principal, templates: [:], setOwners: [:]) }
        let objects: [StoredObject]
        do {
            objects = try await store.objects()
        } catch {
            throw APIError(error)
        }
        let templates = objects.filter { $0.reference.kind == .template }
        let loaded = ManifestLoader(policy: policy).check(sources: templates.map {
            ManifestSource(name: Self.storedSourcePrefix + $0.reference.description, text: $0.manifestText, baseDirectory: $0.baseDirectory)
        }).manifest
        var stored: [String: Access.StoredTemplate] = [:]
        for template in templates {
            // A template whose text no longer loads is treated as private, naming no image.
            let declared = loaded?.template(named: template.reference.name)
            stored[template.reference.name] = Access.StoredTemplate(owner: template.owner, visibility: declared?.spec.visibility ?? .private,
                                                                   blob: declared?.spec.source.blobDigest)
        }
        let setOwners = Dictionary(objects.filter { $0.reference.kind == .vmSet }.map { ($0.reference.name, $0.owner) },
                                   uniquingKeysWith: { first, _ in first })
        return Access(principal: principal, templates: stored, setOwners: setOwners)
    }

    // MARK: - Helpers

    func enqueue(_ references: [ObjectReference]) async {
        var seen = Set<ObjectReference>()
        for reference in references where seen.insert(reference).inserted {
            await controller.enqueue(reference)
        }
    }

    /// A few spec fields per object for tables, from loading the objects' stored texts (with
    /// the stored templates, which VM sets name). Objects being deleted get none.
    func summaries(for objects: [StoredObject]) async -> [ObjectReference: [String: String]] {
        let live = objects.filter { !$0.deletionRequested }
        guard !live.isEmpty else { return [:] }
        var sources = live
        if live.contains(where: { $0.reference.kind == .vmSet }) {
            let included = Set(live.map(\.reference))
            let templates = (try? await store.objects(kind: .template)) ?? []
            sources += templates.filter { !$0.deletionRequested && !included.contains($0.reference) }
        }
        let result = ManifestLoader(policy: policy).check(sources: sources.map {
            ManifestSource(name: Self.storedSourcePrefix + $0.reference.description, text: $0.manifestText, baseDirectory: $0.baseDirectory)
        })
        guard let manifest = result.manifest else {
            logger.warning("stored manifests do not load", metadata: ["api.error": "\(result.diagnostics.map(\.description).joined(separator: "; "))"])
            return [:]
        }
        var summaries: [ObjectReference: [String: String]] = [:]
        for host in manifest.hosts {
            summaries[ObjectReference(kind: .host, name: host.metadata.name)] = [
                "uri": host.spec.uri, "pool": host.spec.pool, "maxParallel": "\(host.spec.maxParallel)",
            ]
        }
        for template in manifest.templates {
            var summary = [
                "path": template.spec.source.path, "resolvedPath": template.spec.source.resolvedPath,
                "format": template.spec.format.rawValue, "visibility": template.spec.visibility.rawValue,
            ]
            summary["blob"] = template.spec.source.blobDigest
            summaries[ObjectReference(kind: .template, name: template.metadata.name)] = summary
        }
        for set in manifest.vmSets {
            summaries[ObjectReference(kind: .vmSet, name: set.metadata.name)] = [
                "template": set.spec.template, "replicas": "\(set.spec.replicas)", "clone": set.spec.clone.rawValue,
                "runStrategy": set.spec.runStrategy.rawValue, "vcpus": "\(set.spec.resources.vcpus)",
                "memory": "\(set.spec.resources.memory)",
            ]
        }
        for source in manifest.gitSources {
            summaries[ObjectReference(kind: .gitSource, name: source.metadata.name)] = [
                "url": source.spec.url, "ref": source.spec.ref.description, "path": source.spec.path.isEmpty ? "/" : source.spec.path,
                "interval": DurationText.format(seconds: Int(source.spec.interval.components.seconds)), "prune": "\(source.spec.prune)",
                "suspend": "\(source.spec.suspend)",
            ]
        }
        return summaries
    }

    static func render(_ object: StoredObject, status: ObjectStatus?, summary: [String: String]?) -> APIObject {
        APIObject(
            kind: object.reference.kind.rawValue, name: object.reference.name, labels: object.labels,
            generation: object.generation, createdAt: object.createdAt, updatedAt: object.updatedAt,
            deletionRequested: object.deletionRequested, deletionRequestedAt: object.deletionRequestedAt,
            manifest: ManifestRedaction.redacted(object.manifestText), baseDirectory: object.baseDirectory, summary: summary,
            status: status.map(render), source: object.source, revision: object.revision, owner: object.owner)
    }

    static func render(_ status: ObjectStatus) -> APIStatus {
        APIStatus(
            observedGeneration: status.observedGeneration,
            conditions: status.conditions.map {
                APICondition(type: $0.type.rawValue, status: $0.status.rawValue, reason: $0.reason, message: $0.message,
                             lastTransitionTime: $0.lastTransitionTime)
            },
            counters: status.counters, readiness: status.details.readiness,
            hosts: status.details.hosts?.mapValues {
                APITemplateCopy(state: $0.state.rawValue, bytes: $0.bytes, totalBytes: $0.totalBytes, percent: $0.percent,
                                bytesPerSecond: $0.bytesPerSecond, message: $0.message)
            },
            git: status.details.git.map {
                APIGitSourceStatus(fetchedRevision: $0.fetchedRevision, appliedRevision: $0.appliedRevision,
                                   attemptedRevision: $0.attemptedRevision, attemptError: $0.attemptError,
                                   errors: $0.diagnostics?.map { APIDiagnostic($0.diagnostic) }, lastSyncAt: $0.lastSyncAt,
                                   nextSyncAt: $0.nextSyncAt, objects: $0.objects, converged: $0.converged, waitingFor: $0.waitingFor)
            },
            updatedAt: status.updatedAt)
    }

    static func render(_ event: Event) -> APIEvent {
        APIEvent(id: event.id, time: event.time, kind: event.object.kind.rawValue, name: event.object.name,
                 host: event.host, type: event.type.rawValue, reason: event.reason, message: event.message, actor: event.actor)
    }

    static func render(_ result: DeleteResult, for reference: ObjectReference) -> APIDeleteResult {
        let word = switch result {
        case .deletionRequested: "deletionRequested"
        case .alreadyRequested: "alreadyRequested"
        case .notFound: "notFound"
        }
        return APIDeleteResult(kind: reference.kind.rawValue, name: reference.name, result: word)
    }
}
