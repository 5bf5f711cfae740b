import DroveGit
import DroveManifest
import DroveQueue
import DroveStore
import Foundation
import Logging
import Synchronization

/// Keeps the store in step with every GitSource's repository, in the controller's process.
///
/// A work queue holds source names, as the controller's holds VM set names: a source is looked
/// at when it is applied or changed, when a sync is asked for (`requestSync`, from the API or a
/// webhook), when a VM set it owns changes status (to tell whether the fleet has converged), and
/// on its interval. A sync fetches into the source's mirror, reads the revision's manifests,
/// validates them all as `drove validate` does, and applies them in one store transaction that
/// also prunes; the store's change feed then wakes the controller for what changed, as an apply
/// through the API does. Anything wrong leaves the store as it was (the fleet keeps the last
/// good revision) and is reported in the source's status.
public final class GitSync: Sendable {
    public struct Options: Sendable {
        /// Where the mirrors live, one bare repository per source (`<data-dir>/gitsources`).
        public var directory: String
        /// What sources and the manifests they bring may name: the API's policy.
        public var policy: ManifestPolicy
        public var workers: Int
        /// The git binary.
        public var git: String
        /// The time limit of each call to a remote (ls-remote, fetch).
        public var remoteTimeout: Duration

        public init(directory: String, policy: ManifestPolicy, workers: Int = 2, git: String = "/usr/bin/git",
                    remoteTimeout: Duration = .seconds(120)) {
            self.directory = directory
            self.policy = policy
            self.workers = workers
            self.git = git
            self.remoteTimeout = remoteTimeout
        }
    }

    let store: Store
    let options: Options
    let logger: Logger
    let queue = WorkQueue<String>()
    let runner: GitRunner
    /// Sources a sync was asked for, not yet started.
    private let requests = Mutex(Set<String>())
    /// When each source is due next; empty after a start, so every source syncs at once then.
    private let due = Mutex([String: Date]())

    public init(store: Store, options: Options, logger: Logger) {
        self.store = store
        self.options = options
        self.logger = logger
        runner = GitRunner(executable: options.git, home: options.directory + "/.home", remoteTimeout: options.remoteTimeout)
    }

    /// Runs until cancelled: the workers and the store's change feed.
    public func run() async {
        do {
            try FileManager.default.createDirectory(atPath: runner.home, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            logger.error("cannot make git's home directory", metadata: ["git.home": "\(runner.home)", "error": "\(error)"])
        }
        let changes = store.changes()
        await enqueueAll()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                await runWorkers(queue: queue, count: options.workers, logger: logger) { [self] name in
                    try await reconcile(name)
                }
            }
            group.addTask { [self] in
                for await change in changes { await handle(change) }
            }
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            await queue.shutDown()
            group.cancelAll()
        }
    }

    /// Asks for a sync of `name` now. Returns when it was asked (a sync that started after it
    /// will show a `lastSyncAt` at or after it), or nil when there is no such source.
    public func requestSync(_ name: String) async throws(StoreError) -> Date? {
        guard let object = try await store.object(kind: .gitSource, name: name), !object.deletionRequested else { return nil }
        let now = Self.millisecond(Date())
        requests.withLock { _ = $0.insert(name) }
        await queue.add(name)
        return now
    }

    // MARK: Triggers

    private func handle(_ change: StoreChange) async {
        switch change {
        case let .objectApplied(reference, _), let .objectDeletionRequested(reference):
            if reference.kind == .gitSource { await queue.add(reference.name) }
        case let .statusChanged(reference) where reference.kind == .vmSet:
            if let owner = try? await store.object(kind: .vmSet, name: reference.name)?.source { await queue.add(owner) }
        case let .objectPruned(reference):
            // A pruned set may be the last one a source was waiting for.
            if reference.kind == .gitSource { await queue.add(reference.name) } else { await enqueueAll() }
        default:
            break
        }
    }

    private func enqueueAll() async {
        for source in (try? await store.objects(kind: .gitSource)) ?? [] { await queue.add(source.reference.name) }
    }

    // MARK: One source

    /// Syncs the source if it is due, then writes its status (convergence included).
    func reconcile(_ name: String) async throws -> ReconcileResult {
        let reference = ObjectReference(kind: .gitSource, name: name)
        guard let object = try await store.object(kind: .gitSource, name: name) else {
            removeMirror(name)
            return .done
        }
        if object.deletionRequested {
            removeMirror(name)
            try await store.markPruned(kind: .gitSource, name: name)
            return .done
        }
        let previous = try await store.status(kind: .gitSource, name: name)
        var status = SourceStatus(previous)
        let loaded = ManifestLoader(policy: options.policy).check(sources: [
            ManifestSource(name: "store:\(reference)", text: object.manifestText, baseDirectory: object.baseDirectory),
        ])
        guard let source = loaded.manifest?.gitSource(named: name) else {
            // The stored object no longer passes the policy (the controller was restarted with
            // narrower options): nothing can be done until it is applied again.
            let message = loaded.diagnostics.map(\.description).joined(separator: "; ")
            status.ready = ConditionReport(.false, .applyFailed, message)
            try await write(status, observedGeneration: object.generation, for: reference)
            throw TerminalError("\(reference): \(message)")
        }
        let requested = requests.withLock { $0.remove(name) != nil }
        if source.spec.suspend {
            status.progressing = ConditionReport(.false, .suspended, "spec.suspend is true: the repository is not looked at")
            status.git.nextSyncAt = nil
            try await write(status, observedGeneration: object.generation, for: reference)
            return .done
        }

        let now = Date()
        var observedGeneration = previous?.observedGeneration ?? 0
        let interval = TimeInterval(source.spec.interval.components.seconds)
        if requested || observedGeneration < object.generation || due.withLock({ $0[name] ?? .distantPast }) <= now {
            await sync(source, status: &status, startedAt: now)
            observedGeneration = object.generation
            due.withLock { $0[name] = now.addingTimeInterval(interval) }
            status.git.nextSyncAt = Self.millisecond(now.addingTimeInterval(interval))
        }
        try await recordConvergence(name, status: &status)
        try await write(status, observedGeneration: observedGeneration, for: reference)
        let next = due.withLock { $0[name] } ?? now.addingTimeInterval(interval)
        return .requeueAfter(.milliseconds(max(10, Int(next.timeIntervalSinceNow * 1000))))
    }

    /// Fetches, reads, validates and applies the source's newest revision, and notes in
    /// `status` what happened.
    private func sync(_ source: GitSource, status: inout SourceStatus, startedAt: Date) async {
        let name = source.metadata.name
        let clock = ContinuousClock()
        let start = clock.now
        let before = status
        let outcome = await attempt(source, status: &status.git)
        status.git.lastSyncAt = Self.millisecond(startedAt)
        let reference = ObjectReference(kind: .gitSource, name: name)
        var events: [NewEvent] = []
        switch outcome {
        case let .applied(revision, result, rewrittenFrom):
            let short = revision.prefix(12)
            status.git.appliedRevision = revision
            status.git.attemptedRevision = revision
            status.git.attemptError = nil
            status.git.diagnostics = nil
            var done = ["\(result.results.count) objects"]
            let counts = [("created", result.results.values.filter { $0 == .created }.count),
                          ("configured", result.results.values.filter { if case .configured = $0 { true } else { false } }.count),
                          ("pruned", result.pruned.count), ("released", result.released.count)]
            done += counts.filter { $0.1 > 0 }.map { "\($0.1) \($0.0)" }
            let summary = "applied \(short): " + done.joined(separator: ", ")
            status.ready = ConditionReport(.true, .revisionApplied, summary)
            if before.git.appliedRevision != revision || !result.changed.isEmpty || !result.pruned.isEmpty {
                let pruned = result.pruned.isEmpty ? "" : "; pruned " + result.pruned.map(\.description).joined(separator: ", ")
                events.append(NewEvent(object: reference, reason: .revisionApplied, message: summary + pruned))
            }
            if let rewrittenFrom {
                let released = result.released.isEmpty ? "nothing to let go of"
                    : "let go of (kept, no longer owned): " + result.released.map(\.description).joined(separator: ", ")
                events.append(NewEvent(object: reference, type: .warning, reason: .historyRewritten, message:
                    "\(source.spec.ref) was rewritten: \(short) does not descend from \(rewrittenFrom.prefix(12)) (a force-push?); "
                        + "applied it without deleting anything; \(released)"))
            }
            GitOpsMetrics.synced(clock.now - start, source: name, failure: nil)
        case let .refused(reason, message, revision, diagnostics):
            if let revision { status.git.attemptedRevision = revision }
            status.git.attemptError = message
            status.git.diagnostics = diagnostics.isEmpty ? nil : diagnostics.map(StoredDiagnostic.init)
            status.ready = ConditionReport(.false, reason, message)
            if before.ready != status.ready || before.git.attemptedRevision != status.git.attemptedRevision {
                let eventReason: EventReason = reason == .fetchFailed || reason == .refNotFound ? .fetchFailed : .revisionRefused
                let listed = diagnostics.prefix(20).map(\.description).joined(separator: "\n")
                events.append(NewEvent(object: reference, type: .warning, reason: eventReason,
                                       message: listed.isEmpty ? message : message + "\n" + listed))
            }
            GitOpsMetrics.synced(clock.now - start, source: name, failure: reason.rawValue)
            logger.warning("git sync refused", metadata: ["gitsource.name": "\(name)", "gitsource.reason": "\(reason.rawValue)", "error": "\(message)"])
        }
        if let applied = status.git.appliedRevision,
           let committed = try? await GitMirror(directory: mirrorDirectory(name), git: runner).commitTime(applied) {
            GitOpsMetrics.revisionAge(Date().timeIntervalSince(committed), source: name)
        }
        // Events are best effort: a full disk must not stop a sync.
        _ = try? await store.appendEvents(events)
    }

    enum Outcome {
        case applied(revision: String, RevisionResult, rewrittenFrom: String?)
        case refused(ConditionReason, String, revision: String?, [Diagnostic])
    }

    private func attempt(_ source: GitSource, status: inout GitSourceStatus) async -> Outcome {
        let name = source.metadata.name, spec = source.spec
        let applied = status.appliedRevision
        let keeping = applied.map { "; keeping revision \($0.prefix(12)) applied" } ?? "; nothing applied yet"
        guard case let .success(url) = GitURL.check(spec.url, policy: options.policy) else {
            return .refused(.applyFailed, "spec.url is refused by this controller's policy" + keeping, revision: nil, [])
        }
        let mirror = GitMirror(directory: mirrorDirectory(name), git: runner)
        let revision: String
        do {
            try await mirror.prepare()
            let credentials = try spec.secretRef.map { credentials throws(GitError) in
                try GitCredentialEnvironment.load(credentials, for: url, policy: options.policy)
            }
            switch try await mirror.update(from: url, ref: spec.ref, credentials: credentials) {
            case .refNotFound:
                return .refused(.refNotFound, "\(spec.ref) is not in \(url.text) (deleted, or not pushed yet)\(keeping), nothing deleted",
                                revision: nil, [])
            case let .commit(commit):
                revision = commit
            }
        } catch {
            return .refused(.fetchFailed, error.description + keeping, revision: nil, [])
        }
        status.fetchedRevision = revision
        let short = revision.prefix(12)

        let files: ManifestFiles
        let rewritten: Bool
        do {
            let reader = RevisionReader(mirror: mirror, baseDirectory: "\(options.directory)/\(name).no-checkout")
            guard case let .files(read) = try await reader.read(revision, path: spec.path) else {
                return .refused(.invalidRevision, "revision \(short) has no \"\(spec.path)\"\(keeping)", revision: revision, [])
            }
            files = read
            rewritten = if let applied, applied != revision { !(try await mirror.isAncestor(applied, of: revision)) } else { false }
        } catch {
            return .refused(.applyFailed, error.description + keeping, revision: revision, [])
        }

        let loaded = ManifestLoader(policy: options.policy).check(files)
        guard let manifest = loaded.manifest else {
            let count = loaded.diagnostics.count
            return .refused(.invalidRevision, "revision \(short) has \(count) \(count == 1 ? "error" : "errors") in its manifests\(keeping)",
                            revision: revision, loaded.diagnostics)
        }
        let nested = manifest.gitSources.map { nested in
            let reference = ObjectReference(kind: .gitSource, name: nested.metadata.name)
            return Diagnostic(location: manifest.origins[reference] ?? SourceLocation(file: spec.path, line: 1, column: 1),
                              subject: reference.description, path: "kind", code: .refusedByPolicy,
                              message: "a GitSource's repository may not declare GitSources; apply them by hand")
        }
        if !nested.isEmpty {
            return .refused(.invalidRevision, "revision \(short) declares GitSources\(keeping)", revision: revision, nested)
        }
        do {
            let objects = try AppliedObject.objects(in: manifest, sources: files.sources, policy: options.policy)
            let result = try await store.applyRevision(SourceRevision(
                source: name, revision: revision, objects: objects, prune: spec.prune, allowEmpty: spec.allowEmpty, rewritten: rewritten))
            return .applied(revision: revision, result, rewrittenFrom: rewritten ? applied : nil)
        } catch {
            let reason: ConditionReason = switch error {
            case .ownershipConflict: .ownershipConflict
            case .wouldPruneEverything: .pruneRefused
            default: .applyFailed
            }
            return .refused(reason, "revision \(short): \(error.description)\(keeping)", revision: revision, [])
        }
    }

    /// Whether every VM set the source owns is Ready at the generation its applied revision
    /// gave it, and none it pruned is still being removed.
    private func recordConvergence(_ name: String, status: inout SourceStatus) async throws {
        let owned = try await store.objects(ownedBy: name)
        status.git.objects = owned.filter { !$0.deletionRequested }.count
        guard let applied = status.git.appliedRevision else {
            status.git.converged = false
            status.git.waitingFor = nil
            status.progressing = nil
            return
        }
        var waiting: [String] = []
        for object in owned where object.reference.kind == .vmSet {
            if object.deletionRequested {
                waiting.append("\(object.reference.name) (being removed)")
                continue
            }
            let set = try await store.status(kind: .vmSet, name: object.reference.name)
            let ready = object.revision == applied && (set?.observedGeneration ?? 0) >= object.generation
                && set?.condition(.ready)?.status == .true
            if !ready { waiting.append(object.reference.name) }
        }
        status.git.converged = waiting.isEmpty
        status.git.waitingFor = waiting.isEmpty ? nil : waiting
        status.progressing = waiting.isEmpty
            ? ConditionReport(.false, .converged, "every VM set of \(applied.prefix(12)) is Ready")
            : ConditionReport(.true, .waitingForFleet, "not Ready at \(applied.prefix(12)) yet: \(waiting.joined(separator: ", "))")
    }

    private func write(_ status: SourceStatus, observedGeneration: Int, for reference: ObjectReference) async throws {
        var conditions: [ConditionType: ConditionReport] = [:]
        conditions[.ready] = status.ready
        conditions[.progressing] = status.progressing
        do {
            try await store.setStatus(StatusUpdate(observedGeneration: observedGeneration, conditions: conditions,
                                                   counters: ["objects": status.git.objects], details: StatusDetails(git: status.git)),
                                      for: reference)
        } catch .notFound {
            // Deleted meanwhile: nothing to report on.
        }
    }

    func mirrorDirectory(_ name: String) -> String { "\(options.directory)/\(name).git" }

    private func removeMirror(_ name: String) {
        guard FileManager.default.fileExists(atPath: mirrorDirectory(name)) else { return }
        do {
            try FileManager.default.removeItem(atPath: mirrorDirectory(name))
        } catch {
            logger.warning("cannot remove a mirror", metadata: ["gitsource.name": "\(name)", "error": "\(error)"])
        }
    }

    /// Times in status are kept to the millisecond, as the store keeps its own.
    static func millisecond(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }
}

/// A source's status as a pass reads and rewrites it.
struct SourceStatus {
    var ready: ConditionReport?
    var progressing: ConditionReport?
    var git: GitSourceStatus

    init(_ stored: ObjectStatus?) {
        func report(_ type: ConditionType) -> ConditionReport? {
            stored?.condition(type).map { ConditionReport(status: $0.status, reason: $0.reason, message: $0.message) }
        }
        ready = report(.ready)
        progressing = report(.progressing)
        git = stored?.details.git ?? GitSourceStatus()
    }
}
