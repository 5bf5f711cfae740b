import DroveAPI
import DroveManifest
@testable import DroveServer
import DroveStore
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Logging
import Testing
import Yams

/// docs/openapi.yaml against the server: the same routes, and real answers with the described
/// status, media type and JSON shape.
@Suite("docs/openapi.yaml describes the server")
struct OpenAPITests {
    static let specPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml").path

    static func spec() throws -> OpenAPISpec {
        try OpenAPISpec(yaml: String(contentsOfFile: specPath, encoding: .utf8))
    }

    @Test("every route the server registers under /api/v1 (and /healthz, /metrics) is described, and nothing else")
    func sameRoutes() async throws {
        let spec = try Self.spec()
        try await withFixture { fixture in
            let router = try buildRouter(configuration: fixture.configuration, store: fixture.store, controller: fixture.controller,
                                         registry: fixture.registry, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                         templateStore: nil)
            let registered = Set(router.routes.map { Operation(method: $0.method.rawValue, path: $0.path.description) }
                .filter { $0.path.hasPrefix(APIPaths.base + "/") || $0.path == "/healthz" || $0.path == "/metrics" })
            let described = Set(spec.operations)
            #expect(registered.count >= 20, "the route table looks empty: \(registered)")
            #expect(registered.subtracting(described).sorted() == [], "registered but not described in docs/openapi.yaml")
            #expect(described.subtracting(registered).sorted() == [], "described in docs/openapi.yaml but not registered")
        }
    }

    @Test("the schema validator refuses what does not conform (so the answers' test can fail)")
    func validatorRefuses() throws {
        let spec = try Self.spec()
        let ok = try JSONValue.parse(#"{"results": [{"kind": "VMSet", "name": "web", "result": "created", "generation": 1}]}"#)
        #expect(spec.validate(ok, against: .ref("ApplyResponse")) == [])
        let bad: [(String, String)] = [
            (#"{}"#, "missing results"),
            (#"{"results": [{"kind": "VMSet", "name": "web", "result": "created", "generation": "1"}]}"#, "a string for an integer"),
            (#"{"results": [{"kind": "VMSet", "name": "web", "result": "made", "generation": 1}]}"#, "a value outside the enum"),
            (#"{"results": [{"kind": "VMSet", "name": "web", "result": "created", "generation": 1, "extra": true}]}"#, "an undescribed property"),
            (#"{"results": {"kind": "VMSet"}}"#, "an object for an array"),
            (#"{"results": [{"kind": "VMSet", "name": "web", "result": "created", "generation": 1.5}]}"#, "a fraction for an integer"),
        ]
        for (text, what) in bad {
            #expect(spec.validate(try JSONValue.parse(text), against: .ref("ApplyResponse")) != [], "accepted \(what)")
        }
        let time = try JSONValue.parse(#"{"id": 1, "time": "yesterday", "kind": "VMSet", "name": "web", "type": "Normal", "reason": "R", "message": ""}"#)
        #expect(spec.validate(time, against: .ref("Event")) != [], "accepted a time that is not ISO 8601")
    }

    @Test("real answers to a call of every described operation have a described status, media type and body")
    func answersConform() async throws {
        let spec = try Self.spec()
        let controller = FakeController(vms: [
            VMSummary(name: "web-0", vmSet: "web", ordinal: 0, host: "node-a", phase: .running, ready: true, addresses: ["192.0.2.10"]),
            VMSummary(name: "web-1", vmSet: "web", ordinal: 1, host: nil, phase: .pending, ready: false, message: "waiting for a slot"),
        ])
        controller.consoleLogs.withLock { $0["web-0"] = Array("booting\nlogin: ".utf8) }
        let calls = Self.calls()
        let outcomes = try await withFixture(controller: controller, policy: GitSourceAPITests.openPolicy) { fixture in
            let store = fixture.store
            _ = try await store.apply(try appliedFleet())
            _ = try await store.appendEvent(NewEvent(object: ObjectReference(kind: .vmSet, name: "web"), host: "node-a", reason: "Created",
                                                     message: "created web-0 on node-a"))
            try await store.setStatus(StatusUpdate(
                observedGeneration: 1, conditions: [.ready: ConditionReport(status: .true, reason: "AllReplicasReady")],
                counters: ["ready": 3], details: StatusDetails(readiness: "agent")), for: ObjectReference(kind: .vmSet, name: "web"))
            return try await fixture.application().test(.live) { client in
                var outcomes: [CallOutcome] = []
                for call in calls {
                    if call.streams {
                        // Changes made while the stream is open, so it carries each kind of message.
                        outcomes.append(try await Self.stream(call, port: try #require(client.port)) {
                            try await store.setStatus(StatusUpdate(observedGeneration: 2, counters: ["ready": 2]),
                                                      for: ObjectReference(kind: .vmSet, name: "web"))
                            _ = try await store.delete([ObjectReference(kind: .host, name: "node-a")])
                        })
                        continue
                    }
                    var headers = call.headers
                    if let type = call.contentType { headers[.contentType] = type }
                    let response = try await client.execute(uri: call.uri, method: call.method, headers: headers,
                                                            body: call.body.map { ByteBuffer(bytes: $0) })
                    outcomes.append(CallOutcome(call: call, status: Int(response.status.code), headers: response.headers,
                                                body: Array(buffer: response.body)))
                }
                return outcomes
            }
        }

        var exercised = Set<Operation>()
        for outcome in outcomes {
            let call = outcome.call
            let path = String(call.uri.prefix { $0 != "?" })
            guard let operation = spec.operation(method: call.method.rawValue, path: path) else {
                Issue.record("\(call.method) \(path): no described operation matches")
                continue
            }
            exercised.insert(operation)
            #expect(outcome.status == call.expected, "\(call.method) \(call.uri): \(String(decoding: (outcome.body ?? []).prefix(300), as: UTF8.self))")
            for problem in spec.check(outcome, of: operation) {
                Issue.record("\(call.method) \(call.uri) → \(outcome.status): \(problem)")
            }
        }
        #expect(Set(spec.operations).subtracting(exercised).sorted() == [], "described operations no call exercised")
        // Every status the description uses for errors is answered by some call, so each is checked once at least.
        #expect(Set([400, 401, 403, 404, 409, 413, 415, 422]).subtracting(outcomes.map(\.status)) == [])
    }

    /// Reads a streaming answer's head and its first messages (the watch stream never ends):
    /// the events replayed, then what `whileOpen` changes.
    static func stream(_ call: Call, port: Int, whileOpen: @escaping @Sendable () async throws -> Void) async throws -> CallOutcome {
        let received = try await withTimeout(10, "the messages of \(call.uri)") {
            try await withStreamingGet(port: port, path: call.uri) { reader in
                try await reader.read(until: ["\r\n\r\n", "event: event"])
                try await whileOpen()
                try await reader.read(until: ["event: status", "event: object"])
                return reader.received
            }
        }
        let parts = received.components(separatedBy: "\r\n\r\n")
        let lines = parts[0].components(separatedBy: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers = HTTPFields()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else { continue }
            headers.append(HTTPField(name: name, value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        // Each message is one write, so one chunk: its lines arrive whole between chunk sizes.
        var messages: [ServerSentEvent] = [], name = "message"
        for line in parts.dropFirst().joined(separator: "\r\n\r\n").split(whereSeparator: \.isNewline) {
            if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { messages.append(ServerSentEvent(event: name, data: Array(line.dropFirst(6).utf8))) }
        }
        return CallOutcome(call: call, status: status, headers: headers, body: nil, messages: messages)
    }

    /// One call per described operation at least, and one per error status; in order, as
    /// later calls depend on earlier ones (the fleet applied first, a user added before it is
    /// rotated and removed).
    static func calls() -> [Call] {
        let admin: HTTPFields = [.authorization: "Bearer \(Fixture.token)"]
        let yaml = "application/yaml", json = "application/json"
        let fleet = fleetYAML() + "\n---\n" + GitSourceAPITests.sourceYAML(hook: nil)
        let sources = try! APIJSON.encoder().encode(APISources(sources: [APISource(name: "web.yaml", text: vmSetYAML(replicas: 2), baseDirectory: "/srv")]))
        let tooManyDocuments = String(repeating: "a: 1\n---\n", count: 600)
        let overBudget = try! APIJSON.encoder().encode(APISources(sources: [
            APISource(name: "one.yaml", text: tooManyDocuments, baseDirectory: nil), APISource(name: "two.yaml", text: tooManyDocuments, baseDirectory: nil),
        ]))
        return [
            Call(.get, "/healthz", expect: 200),
            Call(.get, "/metrics", expect: 200),
            Call(.post, "/api/v1/apply?name=fleet.yaml&base=/srv", admin, yaml, fleet, expect: 200),
            Call(.post, "/api/v1/apply", admin, json, sources, expect: 200),
            Call(.post, "/api/v1/apply", nil, yaml, vmSetYAML(), expect: 401),
            Call(.post, "/api/v1/apply", admin, json, overBudget, expect: 422),
            Call(.post, "/api/v1/apply?name=bad.yaml", admin, yaml, vmSetYAML(replicas: -2), expect: 422),
            Call(.post, "/api/v1/apply", admin, "application/xml", "<manifests/>", expect: 415),
            Call(.post, "/api/v1/apply", admin, yaml, String(repeating: "#", count: 65 << 10), expect: 413),
            Call(.post, "/api/v1/apply", admin, json, #"{"sources": "#, expect: 400),
            Call(.post, "/api/v1/plan", admin, yaml, vmSetYAML(replicas: 5), expect: 200),
            Call(.post, "/api/v1/plan", admin, yaml, "kind: Widget\n", expect: 422),
            Call(.get, "/api/v1/vmsets", expect: 200),
            Call(.get, "/api/v1/hosts", admin, expect: 200),
            Call(.get, "/api/v1/widgets", expect: 404),
            Call(.get, "/api/v1/vmsets/web", expect: 200),
            Call(.get, "/api/v1/gitsources/fleet", expect: 200),
            Call(.get, "/api/v1/vmsets/nope", expect: 404),
            Call(.get, "/api/v1/vmsets/web", [.authorization: "Bearer wrong"], expect: 401),
            Call(.get, "/api/v1/vmsets/web/events?limit=5", expect: 200),
            Call(.get, "/api/v1/vmsets/web/events?tail=soon", expect: 400),
            Call(.get, "/api/v1/events", expect: 200),
            Call(.get, "/api/v1/events?after=-1", expect: 400),
            Call(.get, "/api/v1/events?kind=gadgets&name=x", expect: 404),
            Call(.get, "/api/v1/watch?after=0", streams: true, expect: 200),
            Call(.get, "/api/v1/watch?after=soon", expect: 400),
            Call(.get, "/api/v1/vms", expect: 200),
            Call(.get, "/api/v1/controllers", expect: 200),
            Call(.get, "/api/v1/vms/web-0/log?offset=3", expect: 200),
            Call(.get, "/api/v1/vms/web-9/log", expect: 404),
            Call(.post, "/api/v1/gitsources/fleet/sync", admin, expect: 202),
            Call(.post, "/api/v1/vmsets/web/sync", admin, expect: 404),
            Call(.post, "/api/v1/hooks/fleet", nil, json, "{}", expect: 403),
            Call(.post, "/api/v1/hooks/nope", nil, json, "{}", expect: 404),
            Call(.put, "/api/v1/templates/alpine/image", admin, "application/octet-stream", "QFI\u{fb}", expect: 501),
            Call(.put, "/api/v1/templates/alpine/image", nil, "application/octet-stream", "QFI\u{fb}", expect: 401),
            Call(.post, "/api/v1/users", admin, json, #"{"name": "vic", "role": "viewer"}"#, expect: 201),
            Call(.post, "/api/v1/users", admin, json, #"{"name": "vic", "role": "viewer"}"#, expect: 409),
            Call(.post, "/api/v1/users", admin, json, #"{"name": "Not A Label", "role": "viewer"}"#, expect: 422),
            Call(.get, "/api/v1/users", admin, expect: 200),
            Call(.get, "/api/v1/users", expect: 403),
            Call(.post, "/api/v1/users/vic/rotate", admin, expect: 200),
            Call(.post, "/api/v1/users/nobody/rotate", admin, expect: 404),
            Call(.post, "/api/v1/delete", admin, json, #"{"objects": [{"kind": "VMSet", "name": "nope"}]}"#, expect: 202),
            Call(.post, "/api/v1/delete", admin, json, #"{"objects": []}"#, expect: 400),
            Call(.delete, "/api/v1/templates/alpine", admin, expect: 409),
            Call(.delete, "/api/v1/vmsets/web", admin, expect: 202),
            Call(.delete, "/api/v1/vmsets/web", nil, expect: 401),
            Call(.delete, "/api/v1/users/vic", admin, expect: 204),
            Call(.delete, "/api/v1/users/vic", admin, expect: 404),
        ]
    }
}

extension GitSourceAPITests {
    /// Template files and repositories anywhere: the fixture's controller reads none.
    static var openPolicy: ManifestPolicy { ManifestPolicy(templateFiles: .anywhere, localRepositories: .anywhere) }
}

/// A request and the status it must get.
struct Call: Sendable {
    var method: HTTPRequest.Method
    var uri: String
    var headers: HTTPFields
    var contentType: String?
    var body: [UInt8]?
    var streams: Bool
    var expected: Int

    init(_ method: HTTPRequest.Method, _ uri: String, _ headers: HTTPFields? = nil, _ contentType: String? = nil, _ body: String? = nil,
         streams: Bool = false, expect: Int) {
        self.init(method, uri, headers, contentType, body.map { Array($0.utf8) }, streams: streams, expect: expect)
    }

    init(_ method: HTTPRequest.Method, _ uri: String, _ headers: HTTPFields?, _ contentType: String?, _ body: Data, expect: Int) {
        self.init(method, uri, headers, contentType, Array(body), streams: false, expect: expect)
    }

    private init(_ method: HTTPRequest.Method, _ uri: String, _ headers: HTTPFields?, _ contentType: String?, _ body: [UInt8]?,
                 streams: Bool, expect: Int) {
        self.method = method
        self.uri = uri
        self.headers = headers ?? [:]
        self.contentType = contentType
        self.body = body
        self.streams = streams
        self.expected = expect
    }
}

struct CallOutcome: Sendable {
    var call: Call
    var status: Int
    var headers: HTTPFields
    /// Nil for a stream, whose body is not read to its end.
    var body: [UInt8]?
    /// A stream's messages, as far as they were read.
    var messages: [ServerSentEvent] = []
}

struct ServerSentEvent: Sendable {
    var event: String
    var data: [UInt8]
}

struct Operation: Hashable, Comparable, Sendable, CustomStringConvertible {
    var method: String
    var path: String
    var description: String { "\(method) \(path)" }
    static func < (lhs: Operation, rhs: Operation) -> Bool { lhs.description < rhs.description }
}

// MARK: - JSON values

/// JSON as parsed, every type kept apart (JSONSerialization would let `1` pass for `true`).
enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    static func parse(_ text: String) throws -> JSONValue { try parse(Array(text.utf8)) }
    static func parse(_ bytes: [UInt8]) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) }

    /// What Yams loads (String, Int, Double, Bool, arrays, dictionaries with String keys).
    init(yaml value: Any?) throws {
        switch value {
        case nil: self = .null
        case let value as Bool: self = .bool(value)
        case let value as Int: self = .integer(Int64(value))
        case let value as Double: self = .number(value)
        case let value as String: self = .string(value)
        case let value as [Any]: self = .array(try value.map { try JSONValue(yaml: $0) })
        case let value as [String: Any]: self = .object(try value.mapValues { try JSONValue(yaml: $0) })
        default: throw SpecError("a YAML value of type \(type(of: value!)) is not JSON")
        }
    }

    subscript(key: String) -> JSONValue? {
        if case let .object(members) = self { members[key] } else { nil }
    }

    var string: String? { if case let .string(value) = self { value } else { nil } }
    var members: [String: JSONValue]? { if case let .object(value) = self { value } else { nil } }
    var elements: [JSONValue]? { if case let .array(value) = self { value } else { nil } }
}

struct SpecError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - The description and a validator of its subset of JSON Schema

/// docs/openapi.yaml, parsed: its operations, and a validator for the part of JSON Schema it
/// uses. A keyword the validator does not know is itself reported, so the description cannot
/// use one that goes unchecked.
struct OpenAPISpec {
    let document: JSONValue
    static let keywords: Set<String> = [
        "type", "required", "properties", "additionalProperties", "items", "enum", "$ref", "format", "minimum", "pattern", "minItems",
        "description", "default",
    ]
    static let methods = ["get", "put", "post", "delete", "patch", "head", "options"]

    init(yaml: String) throws {
        document = try JSONValue(yaml: try Yams.load(yaml: yaml))
        guard document["openapi"]?.string?.hasPrefix("3.") == true else { throw SpecError("not an OpenAPI 3 document") }
    }

    var paths: [String: JSONValue] { document["paths"]?.members ?? [:] }

    var operations: [Operation] {
        paths.flatMap { path, item in
            Self.methods.filter { item[$0] != nil }.map { Operation(method: $0.uppercased(), path: path) }
        }.sorted()
    }

    /// The described operation a concrete path reaches, as the router picks it: of the
    /// templates that match segment by segment, the one with the most literal segments.
    func operation(method: String, path: String) -> Operation? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        let candidates = operations.filter { $0.method == method }.compactMap { operation -> (Operation, Int)? in
            let template = operation.path.split(separator: "/", omittingEmptySubsequences: false)
            guard template.count == segments.count else { return nil }
            var literals = 0
            for (part, segment) in zip(template, segments) {
                if part.hasPrefix("{") && part.hasSuffix("}") { continue }
                guard part == segment else { return nil }
                literals += 1
            }
            return (operation, literals)
        }
        return candidates.max { $0.1 < $1.1 }?.0
    }

    /// What is wrong with an answer to `operation`: an undescribed status, another media type,
    /// a missing required header, or a JSON body that does not conform.
    func check(_ outcome: CallOutcome, of operation: Operation) -> [String] {
        guard let responses = paths[operation.path]?[operation.method.lowercased()]?["responses"] else { return ["no responses described"] }
        guard let described = responses[String(outcome.status)].map(resolve) else { return ["status \(outcome.status) is not described"] }
        var problems: [String] = []
        for (name, header) in described["headers"]?.members ?? [:] where header["required"] == .bool(true) {
            if outcome.headers[HTTPField.Name(name)!] == nil { problems.append("header \(name) missing") }
        }
        let mediaType = outcome.headers[.contentType].map { String($0.prefix { $0 != ";" }).trimmingCharacters(in: .whitespaces) }
        guard let content = described["content"]?.members else {
            if let body = outcome.body, !body.isEmpty { problems.append("a body where none is described") }
            return problems
        }
        guard let mediaType, let media = content[mediaType] else {
            return problems + ["Content-Type \(mediaType ?? "none") is not one of \(content.keys.sorted())"]
        }
        if mediaType == "text/event-stream" {
            // `x-events`: each message's `event:` name and the schema of its `data:` line.
            let schemas = media["x-events"]?.members ?? [:]
            if outcome.messages.isEmpty { problems.append("no message read from the stream") }
            for message in outcome.messages {
                guard let schema = schemas[message.event] else {
                    problems.append("event: \(message.event) is not one of \(schemas.keys.sorted())")
                    continue
                }
                do {
                    problems += validate(try JSONValue.parse(message.data), against: schema, at: "event: \(message.event)")
                } catch {
                    problems.append("event: \(message.event): its data is not JSON: \(error)")
                }
            }
            let seen = Set(outcome.messages.map(\.event))
            problems += schemas.keys.filter { !seen.contains($0) }.sorted().map { "no event: \($0) message was read" }
            return problems
        }
        guard mediaType == "application/json", let body = outcome.body, let schema = media["schema"] else { return problems }
        do {
            return problems + validate(try JSONValue.parse(body), against: schema)
        } catch {
            return problems + ["the body is not JSON: \(error)"]
        }
    }

    /// A `$ref` followed (to a schema, response, parameter …); anything else as it is.
    func resolve(_ value: JSONValue) -> JSONValue {
        guard let reference = value["$ref"]?.string, reference.hasPrefix("#/") else { return value }
        var target: JSONValue? = document
        for part in reference.dropFirst(2).split(separator: "/") { target = target?[String(part)] }
        return target.map(resolve) ?? .null
    }

    func validate(_ value: JSONValue, against schema: JSONValue, at path: String = "$") -> [String] {
        if let reference = schema["$ref"]?.string {
            let target = resolve(schema)
            return target == .null ? ["\(path): \(reference) does not resolve"] : validate(value, against: target, at: path)
        }
        guard let keywords = schema.members else { return ["\(path): the schema is not an object"] }
        var problems = keywords.keys.filter { !Self.keywords.contains($0) }.sorted().map { "\(path): keyword \($0) is not checked by this validator" }
        if let type = keywords["type"]?.string, !Self.matches(value, type: type) {
            return problems + ["\(path): \(Self.describe(value)) where the schema says \(type)"]
        }
        if let allowed = keywords["enum"]?.elements, !allowed.contains(value) {
            problems.append("\(path): \(Self.describe(value)) is not one of \(allowed.compactMap(\.string))")
        }
        if case let .string(text) = value {
            if keywords["format"]?.string == "date-time", APIJSON.parseTime(text) == nil { problems.append("\(path): \"\(text)\" is not a date-time") }
            if let pattern = keywords["pattern"]?.string, (try? Regex(pattern)).flatMap({ text.firstMatch(of: $0) }) == nil {
                problems.append("\(path): \"\(text)\" does not match \(pattern)")
            }
        }
        if let minimum = keywords["minimum"] {
            let number: Double? = switch value { case let .integer(n): Double(n); case let .number(n): n; default: nil }
            let bound: Double? = switch minimum { case let .integer(n): Double(n); case let .number(n): n; default: nil }
            if let number, let bound, number < bound { problems.append("\(path): \(number) is below the minimum \(bound)") }
        }
        if case let .array(elements) = value {
            if case let .integer(least)? = keywords["minItems"], elements.count < least { problems.append("\(path): fewer than \(least) items") }
            if let items = keywords["items"] {
                for (index, element) in elements.enumerated() { problems += validate(element, against: items, at: "\(path)[\(index)]") }
            }
        }
        if case let .object(members) = value {
            for required in keywords["required"]?.elements?.compactMap(\.string) ?? [] where members[required] == nil {
                problems.append("\(path): required property \(required) missing")
            }
            let properties = keywords["properties"]?.members ?? [:]
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                if let property = properties[name] {
                    problems += validate(member, against: property, at: "\(path).\(name)")
                } else if keywords["additionalProperties"] == .bool(false) {
                    problems.append("\(path): property \(name) is not described")
                } else if let additional = keywords["additionalProperties"], additional.members != nil {
                    problems += validate(member, against: additional, at: "\(path).\(name)")
                }
            }
        }
        return problems
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("integer", .integer),
             ("number", .integer), ("number", .number): true
        default: false
        }
    }

    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case let .bool(value): "the boolean \(value)"
        case let .integer(value): "the integer \(value)"
        case let .number(value): "the number \(value)"
        case let .string(value): "the string \"\(value.prefix(40))\""
        case .array: "an array"
        case .object: "an object"
        }
    }
}

extension JSONValue {
    /// `{"$ref": "#/components/schemas/NAME"}`.
    static func ref(_ schema: String) -> JSONValue { .object(["$ref": .string("#/components/schemas/\(schema)")]) }
}
