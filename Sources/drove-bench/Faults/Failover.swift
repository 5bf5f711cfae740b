import DroveAPI
import DroveClient
import DroveManifest
import DrovePlan
import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

// The failover faults: three `drove serve` replicas on one PostgreSQL database (a fresh one per
// trial), one leader elected through the store's lease, a 30-VM rolling update under way; then
// the leader is killed with SIGKILL (leader-kill) or its connections to PostgreSQL are cut
// (store-cut). A survivor must take over within 15 s, the rollout must finish with the audit
// clean, and a watch client on a replica that never led must have been handed every event the
// store logged, in order, with the set's final status.

/// What a failover trial measured, beyond the audit. Every entry of `problems` fails the trial.
struct FailoverRecord: Codable, Sendable {
    /// The replicas in the order they were started, the leader elected first, the one after
    /// the fault, and the follower the watch client was connected to.
    var replicas: [String] = []
    var firstLeader: String?
    var newLeader: String?
    var watched: String?
    /// From the fault until a survivor's /healthz said it leads.
    var takeoverSeconds: Double?
    /// From the fault until the set was Ready at the rolling update's generation.
    var convergeSeconds: Double?
    /// store-cut: from the cut until the old leader's /healthz said follower.
    var oldLeaderStoppedSeconds: Double?
    /// store-cut: how long the old leader's /healthz still said it leads after a survivor's
    /// said so too (0 when it stopped first). Not a failure by itself (the audit's duplicates
    /// are the proof that it did nothing on hosts meanwhile), but shown: by design the old
    /// leader stops 2 s before its lease can be taken.
    var overlapSeconds: Double?
    /// store-cut: whether the old leader logged that it stopped leading, and the second its log
    /// says its watchdog stopped the work on hosts and that it no longer led (HH:MM:SS).
    var oldLeaderLoggedStop: Bool?
    var oldLeaderLog: [String]?
    /// store-cut: the old leader's log from its first failed renewal to the line saying it no
    /// longer leads (at most 40 lines): what it did meanwhile.
    var oldLeaderLogExcerpt: [String]?
    /// store-cut: what the hosts' QEMU logs show of the set's guests from the cut until the old
    /// leader's /healthz stopped saying it leads (guests started, destroyed), each marked with
    /// whether it came after the takeover and whether the new leader's events account for it.
    var hostActions: [String]?
    /// Of those, after the takeover and not in the new leader's events: the old leader's own
    /// host calls while another replica led (0 is the promise of the lease's margin).
    var oldLeaderActionsAfterTakeover: Int?
    /// store-cut: from the restored proxy until the old leader named the new leader as its leader.
    var oldLeaderRejoinedSeconds: Double?
    /// store-cut: the connections its proxy closed at the cut, and refused during it.
    var connectionsCut: Int?
    var connectionsRefused: Int?
    var watch: WatchCheck?
    var problems: [String] = []

    /// A table of the failover trials' own figures (empty without any).
    static func table(_ records: [TrialRecord]) -> String {
        var table = TextTable("fault", "trials", "passed", "takeover (median/max)", "converge (median/max)", "old leader stopped (median/max)",
                              "two leaders on /healthz (trials, max)", "watch complete", "duplicates", "leaks", "partial", "foreign", "unconverged")
        for fault in [FaultKind.leaderKill, .storeCut] {
            let mine = records.filter { $0.fault == fault }
            guard !mine.isEmpty else { continue }
            func spread(_ values: [Double]) -> String {
                values.isEmpty ? "-" : String(format: "%.1f s / %.1f s", Summary(values).median, Summary(values).max)
            }
            table.add([fault.rawValue, "\(mine.count)", "\(mine.filter(\.passed).count)",
                       spread(mine.compactMap { $0.failover?.takeoverSeconds }), spread(mine.compactMap { $0.failover?.convergeSeconds }),
                       spread(mine.compactMap { $0.failover?.oldLeaderStoppedSeconds }),
                       fault == .storeCut ? String(format: "%d, %.1f s", mine.filter { ($0.failover?.overlapSeconds ?? 0) > 0 }.count,
                                                   mine.compactMap { $0.failover?.overlapSeconds }.max() ?? 0) : "-",
                       "\(mine.filter { $0.failover?.watch?.passed == true }.count) of \(mine.count)",
                       "\(mine.map(\.findings.duplicateVMs.count).reduce(0, +))", "\(mine.map(\.findings.leakedVolumes.count).reduce(0, +))",
                       "\(mine.map(\.findings.partialCopiesInUse.count).reduce(0, +))", "\(mine.map(\.findings.foreignTouched.count).reduce(0, +))",
                       "\(mine.map(\.findings.notConverged.count).reduce(0, +) + mine.filter { $0.error != nil }.count)"])
        }
        return table.rows.isEmpty ? "" : "\n" + table.render()
    }
}

/// The watch client's check: the events the store logged after `afterEventID` until the end of
/// the rollout, against those the watch stream delivered.
struct WatchCheck: Codable, Sendable {
    var afterEventID: Int64
    var logged: Int
    var delivered: Int
    /// Logged but never delivered; delivered but not logged (first 20 of each).
    var missing: [Int64]
    var unexpected: [Int64]
    var duplicates: Int
    var inOrder: Bool
    /// A status message with Ready True at the rolling update's generation arrived.
    var readyArrived: Bool
    /// Why the stream ended before the check, if it did.
    var ended: String?

    var passed: Bool { missing.isEmpty && unexpected.isEmpty && duplicates == 0 && inOrder && readyArrived && ended == nil }

    var problems: [String] {
        var found: [String] = []
        if !missing.isEmpty { found.append("watch: \(missing.count) logged events never delivered (ids \(missing.prefix(10).map(String.init).joined(separator: ", ")))") }
        if !unexpected.isEmpty { found.append("watch: delivered events not in the log (ids \(unexpected.prefix(10).map(String.init).joined(separator: ", ")))") }
        if duplicates > 0 { found.append("watch: \(duplicates) events delivered twice") }
        if !inOrder { found.append("watch: events delivered out of id order") }
        if !readyArrived { found.append("watch: the set's Ready status at the new generation never arrived") }
        if let ended { found.append("watch: the stream ended early: \(ended)") }
        return found
    }
}

/// Everything a watch stream delivered: event ids in arrival order, and the generations at
/// which a status message said the set is Ready.
final class WatchRecorder: Sendable {
    private struct State {
        var eventIDs: [Int64] = []
        var readyGenerations: Set<Int> = []
        var ended: String?
    }

    private let state = Mutex(State())
    private let set: String

    init(set: String) {
        self.set = set
    }

    var eventIDs: [Int64] { state.withLock { $0.eventIDs } }
    var readyGenerations: Set<Int> { state.withLock { $0.readyGenerations } }
    var ended: String? { state.withLock { $0.ended } }

    /// Follows the stream until cancelled.
    func follow(_ client: APIClient, after: Int64) async {
        do {
            for try await message in client.watch(after: after) { record(message) }
            if !Task.isCancelled { state.withLock { $0.ended = "the server ended the stream" } }
        } catch {
            if !Task.isCancelled { state.withLock { $0.ended = "\(error)" } }
        }
    }

    private func record(_ message: WatchMessage) {
        switch message.event {
        case "event":
            guard let id = message.id ?? message.decode(APIEvent.self)?.id else { return }
            state.withLock { $0.eventIDs.append(id) }
        case "status":
            guard let change = message.decode(APIStatusChange.self), change.kind == ObjectKind.vmSet.rawValue, change.name == set,
                  let status = change.status, status.conditions.contains(where: { $0.type == "Ready" && $0.status == "True" }) else { return }
            state.withLock { _ = $0.readyGenerations.insert(status.observedGeneration) }
        default:
            break
        }
    }
}

/// The PostgreSQL server the failover trials make their databases on, through psql.
struct PostgresServer: Sendable {
    let components: URLComponents

    /// `option`, else $DROVE_TEST_POSTGRES_URL, else the URL scripts/postgres.sh wrote for the
    /// test server.
    static func locate(_ option: String?) -> String? {
        if let option, !option.isEmpty { return option }
        if let url = ProcessInfo.processInfo.environment["DROVE_TEST_POSTGRES_URL"], !url.isEmpty { return url }
        return (try? String(contentsOfFile: "/var/lib/drove/postgres-test/url", encoding: .utf8))
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    init(url: String) throws {
        let normalized = url.hasPrefix("postgresql://") ? "postgres://" + url.dropFirst("postgresql://".count) : url
        guard let components = URLComponents(string: normalized), components.scheme == "postgres", components.user != nil else {
            throw BenchError("--postgres \(url): not a postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE URL")
        }
        self.components = components
    }

    /// The server's TCP address (the proxies' upstream).
    var host: String { components.host.flatMap { $0.isEmpty || $0 == "localhost" ? nil : $0 } ?? "127.0.0.1" }
    var port: Int { components.port ?? 5432 }

    /// The URL of `database`, directly or through a proxy on loopback `port`.
    func url(database: String, port: Int? = nil) -> String {
        var copy = components
        copy.path = "/" + database
        if let port {
            copy.host = "127.0.0.1"
            copy.port = port
        }
        return copy.string!
    }

    func create(_ database: String) async throws { try await admin("CREATE DATABASE \(database)") }

    func drop(_ database: String) async throws { try await admin("DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }

    private func admin(_ sql: String) async throws {
        let result = try await Subprocess.run("/usr/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql, url(database: "postgres")])
        guard result.code == 0 else { throw BenchError("psql \(sql): \(result.output)") }
    }
}

/// A TCP proxy on loopback (127.0.0.1:0 → the PostgreSQL server), one per replica, that the
/// trial can cut: every connection closed at once, new ones closed as soon as they are
/// accepted, until restored. A thread accepts; a thread per connection relays both ways.
final class StoreProxy: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`.
    private let lock = NSLock()
    private let listener: Int32
    private var open: Set<Int32> = []
    private var isCut = false
    private var stopped = false
    private var cutCount = 0
    private var refusedCount = 0
    let port: Int
    let upstreamHost: String
    let upstreamPort: Int

    init(upstreamHost: String, upstreamPort: Int) throws {
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("proxy: socket: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.address("127.0.0.1", port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw BenchError("proxy: bind/listen on 127.0.0.1: errno \(errno)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: actual.sin_port))
        listener = fd
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var connectionsCut: Int { lock.withLock { cutCount } }
    var connectionsRefused: Int { lock.withLock { refusedCount } }

    /// Closes every connection and refuses new ones until `restore`.
    func cut() {
        lock.withLock {
            isCut = true
            cutCount += open.count / 2
            for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    func restore() {
        lock.withLock { isCut = false }
    }

    /// Closes everything, the listener too.
    func stop() {
        lock.withLock {
            guard !stopped else { return }
            stopped = true
            for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
            shutdown(listener, Int32(SHUT_RDWR))
        }
    }

    /// A loopback port free right now (bound to port 0, then let go).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: errno \(errno)") }
        defer { close(fd) }
        var address = Self.address("127.0.0.1", port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw BenchError("bind 127.0.0.1:0: errno \(errno)") }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: actual.sin_port))
    }

    private static func address(_ host: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if lock.withLock({ stopped }) { break }
                if errno != EINTR { usleep(10_000) }
                continue
            }
            if lock.withLock({ () -> Bool in
                if isCut || stopped { refusedCount += 1; return true }
                return false
            }) {
                close(client)
                continue
            }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.address(upstreamHost, port: upstreamPort)
            let connected = server >= 0 && withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
            guard connected else {
                if server >= 0 { close(server) }
                close(client)
                continue
            }
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(server, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let kept = lock.withLock { () -> Bool in
                guard !isCut, !stopped else { refusedCount += 1; return false }
                open.insert(client)
                open.insert(server)
                return true
            }
            guard kept else {
                close(client)
                close(server)
                continue
            }
            let relaying = Thread { [self] in relay(client, server) }
            relaying.start()
        }
        close(listener)
    }

    private func relay(_ first: Int32, _ second: Int32) {
        var fds = [pollfd(fd: first, events: Int16(POLLIN), revents: 0), pollfd(fd: second, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        relaying: while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let ready = poll(&fds, 2, 1000)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            for (from, to) in [(0, 1), (1, 0)] where fds[from].revents != 0 {
                let count = read(fds[from].fd, &buffer, buffer.count)
                if count <= 0 { break relaying }
                var sent = 0
                while sent < count {
                    let written = buffer.withUnsafeBytes { send(fds[to].fd, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                    if written < 0, errno == EINTR { continue }
                    if written <= 0 { break relaying }
                    sent += written
                }
            }
        }
        lock.withLock {
            shutdown(first, Int32(SHUT_RDWR))
            shutdown(second, Int32(SHUT_RDWR))
            open.remove(first)
            open.remove(second)
        }
        close(first)
        close(second)
    }
}

/// One `drove serve` replica of a failover trial, and its proxy to PostgreSQL (store-cut).
struct Replica: Sendable {
    let id: String
    let serve: ServeProcess
    let proxy: StoreProxy?

    /// What its /healthz says: `role` (leader or follower) and the leader it knows of.
    struct Health: Sendable {
        var role: String
        var leader: String?
    }

    func health() async -> Health? {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(serve.port)/healthz")!)
        request.timeoutInterval = 2
        guard let (data, response) = try? await URLSession.shared.data(for: request),
              (response as? HTTPURLResponse)?.statusCode == 200 else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        guard let role = fields["role"] else { return nil }
        return Health(role: role, leader: fields["leader"])
    }

    /// Every event logged after `after`, paging through GET /api/v1/events.
    func events(after: Int64) async throws -> [APIEvent] {
        var events: [APIEvent] = []
        var cursor = after
        while true {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(serve.port)/api/v1/events?after=\(cursor)&limit=500")!)
            request.setValue("Bearer \(serve.token)", forHTTPHeaderField: "Authorization")
            request.timeoutInterval = 30
            let (data, response) = try await URLSession.shared.data(for: request)
            guard (response as? HTTPURLResponse)?.statusCode == 200 else {
                throw BenchError("GET /api/v1/events on \(id): \(String(decoding: data.prefix(300), as: UTF8.self))")
            }
            let page = try APIJSON.decoder().decode(APIEventList.self, from: data)
            events += page.items
            if page.items.isEmpty || page.next <= cursor { return events }
            cursor = page.next
        }
    }
}

extension FaultTrials {
    func failover(_ kind: FaultKind, _ trial: Int, _ random: inout Xoshiro256, _ record: inout TrialRecord) async throws {
        guard let url = postgres else {
            throw BenchError("no PostgreSQL server for \(kind.rawValue): pass --postgres URL or set DROVE_TEST_POSTGRES_URL "
                             + "(bash scripts/postgres.sh start /var/lib/drove/postgres-test)")
        }
        let server = try PostgresServer(url: url)
        let set = kind.prefix + "\(trial)"
        let database = "drove_faults_\(set)_\(String(random.next() & 0xFF_FFFF, radix: 16))"
        try await server.create(database)
        var failover = FailoverRecord()
        var replicas: [Replica] = []
        var watch: Task<Void, Never>?
        do {
            try await failoverTrial(kind, trial, set: set, server: server, database: database, &random, &record, &failover,
                                    replicas: &replicas, watch: &watch)
            record.failover = failover
        } catch {
            record.failover = failover
            watch?.cancel()
            for replica in replicas {
                await replica.serve.killHard()
                replica.proxy?.stop()
            }
            try? await server.drop(database)
            throw error
        }
        try await server.drop(database)
    }

    private func failoverTrial(_ kind: FaultKind, _ trial: Int, set: String, server: PostgresServer, database: String,
                               _ random: inout Xoshiro256, _ record: inout TrialRecord, _ failover: inout FailoverRecord,
                               replicas: inout [Replica], watch: inout Task<Void, Never>?) async throws {
        let clock = ContinuousClock()
        // Three replicas, started in a seeded order (the first to start usually leads).
        var order = ["r1", "r2", "r3"]
        for index in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(index, Int(random.next() % UInt64(index + 1))) }
        failover.replicas = order
        var ports: Set<Int> = []
        for id in order {
            let proxy = kind == .storeCut ? try StoreProxy(upstreamHost: server.host, upstreamPort: server.port) : nil
            let directory = fleet.scratch.appendingPathComponent("\(kind.rawValue)-\(trial)-\(id)")
            try? FileManager.default.removeItem(at: directory)
            // A port the kernel has just handed out as free (a random one may be another's, a
            // proxy's or a connection's: the ephemeral range overlaps ServeProcess's).
            var port = try StoreProxy.freePort()
            while ports.contains(port) { port = try StoreProxy.freePort() }
            let serve = try ServeProcess(drove: fleet.drove, directory: directory, templateDirectory: fleet.scratch,
                                         extraArguments: ["--store", server.url(database: database, port: proxy?.port), "--replica-id", id],
                                         port: port)
            ports.insert(serve.port)
            let replica = Replica(id: id, serve: serve, proxy: proxy)
            replicas.append(replica)
            try await serve.start()
        }

        // One leader, that every replica names.
        let leader = try await untilOneLeader(replicas, within: .seconds(30))
        failover.firstLeader = leader.id
        let followers = replicas.filter { $0.id != leader.id }
        let watched = followers[Int(random.next() % UInt64(followers.count))]
        failover.watched = watched.id
        Progress.say("  replicas started \(order.joined(separator: ", ")); \(leader.id) leads; the watch follows \(watched.id)")
        let client = watched.serve.client

        // The set at 64 MiB, converged; then the watch; then the rolling update to 80 MiB.
        let documents = { (memory: Int) in [fleet.hostsYAML, fleet.templateYAML(), fleet.setYAML(set, replicas: vms, memoryMiB: memory)] }
        let created = try await fleet.apply(client, documents(64), set: set)
        _ = try await fleet.waitReady(client, set: set, generation: created)
        let after = try await client.events(of: nil, tail: 1).items.last?.id ?? 0
        let recorder = WatchRecorder(set: set)
        watch = Task { await recorder.follow(client, after: after) }
        let updateStart = clock.now
        let generation = try await fleet.apply(client, documents(80), set: set)
        try await untilRolledOut(target(&random), of: set, memoryMiB: 80)

        // The fault.
        let struck = clock.now
        let struckAt = Date()
        switch kind {
        case .leaderKill: await leader.serve.killHard()
        default:
            leader.proxy!.cut()
            failover.connectionsCut = leader.proxy!.connectionsCut
        }
        let moment = await moment("rolling update", set: set, memoryMiB: 80, after: struck - updateStart)
        record.kills.append(moment)
        record.moments.append(kind == .leaderKill
            ? "leader \(leader.id) killed with SIGKILL"
            : "leader \(leader.id)'s connections to PostgreSQL cut (\(failover.connectionsCut ?? 0) closed)")

        // A survivor takes over; after a store cut the old leader must stop first.
        let survivors = replicas.filter { $0.id != leader.id }
        var overlapFrom: ContinuousClock.Instant?
        var dumped = false
        while failover.takeoverSeconds == nil || (kind == .storeCut && failover.oldLeaderStoppedSeconds == nil) {
            let elapsed = seconds(clock.now - struck)
            // An old leader that still says it leads 30 s after the cut: where its threads wait, and its sockets.
            if kind == .storeCut, elapsed > 30, !dumped, let pid = leader.serve.child?.pid {
                dumped = true
                let stacks = try? await Subprocess.run("/usr/bin/gdb", ["-p", "\(pid)", "-batch", "-ex", "thread apply all bt"])
                let sockets = try? await Subprocess.run("/usr/bin/ss", ["-tnpi"])
                let file = leader.serve.directory.appendingPathComponent("stuck.txt")
                try? ((stacks?.output ?? "gdb failed") + "\n\n==== ss -tnpi (pid \(pid))\n"
                      + (sockets?.output.split(separator: "\n").filter { $0.contains("pid=\(pid),") }.joined(separator: "\n") ?? ""))
                    .write(to: file, atomically: true, encoding: .utf8)
                record.moments.append("\(leader.id) still says it leads \(Int(elapsed)) s after the cut: its threads and sockets in \(file.path)")
                Progress.say("  \(leader.id) still says it leads 30 s after the cut: threads and sockets in \(file.path)")
            }
            guard elapsed < 60 else {
                throw BenchError(failover.takeoverSeconds == nil ? "no replica took over within 60 s"
                                 : "\(leader.id) still said it leads 60 s after its store was cut")
            }
            if kind == .storeCut, failover.oldLeaderStoppedSeconds == nil, let health = await leader.health(), health.role != "leader" {
                failover.oldLeaderStoppedSeconds = seconds(clock.now - struck)
                failover.overlapSeconds = overlapFrom.map { seconds(clock.now - $0) } ?? 0
            }
            if failover.takeoverSeconds == nil {
                for survivor in survivors {
                    guard let health = await survivor.health(), health.role == "leader" else { continue }
                    failover.takeoverSeconds = seconds(clock.now - struck)
                    failover.newLeader = survivor.id
                    // Both say they lead, as their own /healthz says: from now until the old one stops.
                    if kind == .storeCut, failover.oldLeaderStoppedSeconds == nil, await leader.health()?.role == "leader" { overlapFrom = clock.now }
                    break
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let takeover = failover.takeoverSeconds!
        let takeoverAt = struckAt.addingTimeInterval(takeover)
        record.detectSeconds = takeover
        record.moments.append(String(format: "%@ led %.1f s after the fault", failover.newLeader!, takeover)
                              + (failover.oldLeaderStoppedSeconds.map { String(format: "; the old leader stopped leading after %.1f s", $0) } ?? ""))
        if takeover >= 15 { failover.problems.append(String(format: "takeover took %.1f s (at most 15 s)", takeover)) }
        if let stopped = failover.oldLeaderStoppedSeconds, stopped >= 15 {
            failover.problems.append(String(format: "%@ still said it leads %.1f s after its store was cut", leader.id, stopped))
        }
        if let overlap = failover.overlapSeconds, overlap > 0 {
            record.moments.append(String(format: "two leaders on /healthz for %.2f s: %@ still said it leads after %@ took over", overlap, leader.id, failover.newLeader!))
        }

        // The rollout completes under the new leader, audited.
        _ = try await fleet.waitReady(client, set: set, generation: generation)
        failover.convergeSeconds = seconds(clock.now - struck)
        record.recoverSeconds.append(failover.convergeSeconds!)
        try await check(&record, expectation([set: .init(replicas: vms, memoryMiB: 80)], prefix: set), stage: "after the takeover")

        // Every event logged since the watch began was delivered on it, in order, and the Ready status.
        let loggedEvents = try await watched.events(after: after)
        let logged = loggedEvents.map(\.id)
        let waited = clock.now
        while let last = logged.last, !(recorder.eventIDs.contains { $0 >= last }), recorder.ended == nil, clock.now - waited < .seconds(10) {
            try await Task.sleep(for: .milliseconds(100))
        }
        while !recorder.readyGenerations.contains(generation), recorder.ended == nil, clock.now - waited < .seconds(10) {
            try await Task.sleep(for: .milliseconds(100))
        }
        let delivered = recorder.eventIDs.filter { $0 <= (logged.last ?? after) }
        let watchCheck = WatchCheck(afterEventID: after, logged: logged.count, delivered: delivered.count,
                               missing: Array(Set(logged).subtracting(delivered).sorted().prefix(20)),
                               unexpected: Array(Set(delivered).subtracting(logged).sorted().prefix(20)),
                               duplicates: delivered.count - Set(delivered).count, inOrder: delivered == delivered.sorted(),
                               readyArrived: recorder.readyGenerations.contains(generation), ended: recorder.ended)
        failover.watch = watchCheck
        failover.problems += watchCheck.problems
        record.moments.append("the watch on \(watched.id) delivered \(watchCheck.delivered) of \(watchCheck.logged) logged events"
                              + (watchCheck.readyArrived ? ", and the Ready status" : ", not the Ready status"))
        watch?.cancel()
        watch = nil

        if kind == .storeCut {
            failover.connectionsRefused = leader.proxy!.connectionsRefused
            let log = (try? String(contentsOf: leader.serve.directory.appendingPathComponent("serve.log"), encoding: .utf8)) ?? ""
            failover.oldLeaderLoggedStop = log.contains("no longer leads") || log.contains("could not be renewed in time")
            let lines = log.split(separator: "\n")
            failover.oldLeaderLog = [("the store did not answer", "first failed renewal"), ("could not be renewed in time", "stopping all work on hosts"),
                                     ("no longer leads", "no longer leads")].compactMap { needle, said in
                lines.first { $0.contains(needle) }.map { String($0.prefix(19)) + " " + said }
            }
            if let first = lines.firstIndex(where: { $0.contains("the store did not answer") }) {
                let last = lines[first...].firstIndex { $0.contains("no longer leads") } ?? min(lines.endIndex - 1, first + 39)
                failover.oldLeaderLogExcerpt = lines[first...last].prefix(40).map { String($0.prefix(400)) }
            }
            record.moments.append("\(leader.id)'s log: \(failover.oldLeaderLog!.joined(separator: "; "))")
            if failover.oldLeaderLoggedStop == false { failover.problems.append("\(leader.id) never logged that it stopped leading") }
            // What the hosts did from the cut until the old leader stopped, and whose it was.
            if let stopped = failover.oldLeaderStoppedSeconds {
                let actions = qemuActions(of: set, from: struckAt, to: struckAt.addingTimeInterval(stopped + 0.5))
                let format = DateFormatter()
                format.dateFormat = "HH:mm:ss.SSS"
                format.timeZone = TimeZone(identifier: "UTC")
                var late = 0
                failover.hostActions = actions.map { action in
                    let verbs = action.started ? ["started \(action.vm) on \(action.host)"]
                        : ["stopped \(action.vm) on \(action.host)", "removed \(action.vm) from \(action.host)"]
                    let byNewLeader = loggedEvents.contains { event in event.time > struckAt && verbs.contains { event.message.hasPrefix($0) } }
                    let afterTakeover = action.time > takeoverAt
                    if afterTakeover && !byNewLeader { late += 1 }
                    return "\(format.string(from: action.time)) \(action.host) \(action.vm) \(action.started ? "started" : "destroyed")"
                        + (afterTakeover ? String(format: " (%.2f s after the takeover%@)", action.time.timeIntervalSince(takeoverAt),
                                                  byNewLeader ? ", logged by the new leader" : ", not by the new leader: the old leader's")
                                         : "")
                }
                failover.oldLeaderActionsAfterTakeover = late
                record.moments.append("the hosts from the cut until \(leader.id) stopped: \(actions.filter(\.started).count) guests started, "
                                      + "\(actions.filter { !$0.started }.count) destroyed; after the takeover, \(late) the new leader did not log")
                if late > 0 {
                    record.moments += failover.hostActions!.filter { $0.contains("the old leader's") }.prefix(10).map { "  \($0)" }
                }
            }

            // Back: the old leader follows the new one, and only one leads.
            leader.proxy!.restore()
            let restored = clock.now
            while true {
                let health = await leader.health()
                if health?.role == "leader" {
                    failover.problems.append("\(leader.id) leads again after its store came back")
                    break
                }
                if health?.leader == failover.newLeader {
                    failover.oldLeaderRejoinedSeconds = seconds(clock.now - restored)
                    break
                }
                guard clock.now - restored < .seconds(30) else {
                    failover.problems.append("\(leader.id) did not name \(failover.newLeader!) as leader within 30 s of its store's return")
                    break
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            // Three renewals more: still one leader, the same.
            let watching = clock.now
            while clock.now - watching < .seconds(6) {
                var leading: [String] = []
                for replica in replicas where await replica.health()?.role == "leader" { leading.append(replica.id) }
                if leading != [failover.newLeader!] {
                    failover.problems.append("after the store's return, leading: \(leading) (expected only \(failover.newLeader!))")
                    break
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            let list = try await leader.serve.client.controllers()
            if list.leader != failover.newLeader || list.items.count != 3 {
                failover.problems.append("\(leader.id)'s controller list names leader \(list.leader ?? "none") with \(list.items.count) replicas")
            }
            record.moments.append("\(leader.id) came back as a follower of \(failover.newLeader!)"
                                  + (failover.oldLeaderRejoinedSeconds.map { String(format: " %.1f s after its store returned", $0) } ?? "")
                                  + " (\(failover.connectionsRefused ?? 0) connections refused during the cut)")
        }

        // The end: the set and template deleted, nothing of them left; every replica stopped.
        try await fleet.deleteAndWait(client, [.init(kind: .vmSet, name: set), .init(kind: .template, name: FaultFleet.templateName)])
        try await check(&record, expectation([:], prefix: set), stage: "after deletion")
        for replica in replicas where replica.serve.child != nil {
            do { try await replica.serve.stop() } catch { failover.problems.append("\(replica.id): \(error)") }
        }
        for replica in replicas { replica.proxy?.stop() }
        replicas = []
    }

    /// The set's guests each lab host's QEMU started or destroyed between `from` and `to`, from
    /// the hosts' QEMU logs (`log/qemu/VM.log`, lines "TIME: starting up" and "TIME: shutting
    /// down, reason=destroyed", in UTC to the millisecond), in time order.
    func qemuActions(of set: String, from: Date, to: Date) -> [(time: Date, host: String, vm: String, started: Bool)] {
        let parse = DateFormatter()
        parse.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        parse.timeZone = TimeZone(identifier: "UTC")
        parse.locale = Locale(identifier: "en_US_POSIX")
        var actions: [(time: Date, host: String, vm: String, started: Bool)] = []
        for host in fleet.hosts {
            let directory = host.directory.appendingPathComponent("log/qemu")
            for file in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where file.hasSuffix(".log") {
                let vm = String(file.dropLast(4))
                guard Naming.vm(vm, belongsTo: set),
                      let text = try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8) else { continue }
                for line in text.split(separator: "\n") where line.count > 30 && line.dropFirst(23).hasPrefix("+0000: ") {
                    let started = line.contains("+0000: starting up")
                    guard started || line.contains("+0000: shutting down, reason=destroyed"),
                          let time = parse.date(from: String(line.prefix(23))), time >= from, time <= to else { continue }
                    actions.append((time, host.name, vm, started))
                }
            }
        }
        return actions.sorted { $0.time < $1.time }
    }

    /// Waits until exactly one replica says it leads and every other names it; returns it.
    private func untilOneLeader(_ replicas: [Replica], within limit: Duration) async throws -> Replica {
        let clock = ContinuousClock()
        let start = clock.now
        var last: [String] = []
        while clock.now - start < limit {
            var healths: [(Replica, Replica.Health?)] = []
            for replica in replicas { healths.append((replica, await replica.health())) }
            last = healths.map { "\($0.0.id): \($0.1.map { "\($0.role), leader \($0.leader ?? "none")" } ?? "no answer")" }
            let leaders = healths.filter { $0.1?.role == "leader" }.map(\.0)
            if leaders.count == 1, healths.allSatisfy({ $0.1?.leader == leaders[0].id }) { return leaders[0] }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw BenchError("no single leader within \(limit): \(last.joined(separator: "; "))")
    }
}
