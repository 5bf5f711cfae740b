/// A libvirt connection URI that Drove has checked against an allow-list before any connection
/// is opened.
///
/// libvirt can be made to run programs by its URI alone: the `ext` transport runs the program
/// named by `command=`, and the `ssh` transport's `command=` and `netcat=` name the programs it
/// runs. A Host object comes from whoever may write manifests, so Drove accepts only the forms
/// below, written in a strict subset of URI syntax (no percent-encoding, no fragments, no `;`),
/// so that libvirt cannot read the text differently from Drove:
///
/// | form | parameters |
/// |---|---|
/// | `qemu:///system` | none |
/// | `qemu+unix:///system` | `socket` (a path ending in a libvirt socket name), `mode` |
/// | `qemu+ssh://[user@]host[:port]/system` | `socket`, `mode`, `proxy`, `no_tty`, `keyfile` (per policy) |
/// | `qemu+tls://host[:port]/system` | `pkipath` (per policy) |
/// | `qemu+tcp://host[:port]/system` | none; only where the policy allows TCP |
/// | `test:///default`, `test:///PATH` | none; only where the policy allows the test driver |
public struct HostURI: Sendable, Hashable {
    public enum Transport: String, Sendable, Hashable {
        case local, unix, ssh, tls, tcp, test
    }

    public var text: String
    public var transport: Transport
    public var user: String?
    public var host: String?
    public var port: Int?
    public var path: String
    public var parameters: [String: String]

    /// Why a URI was refused; the reason is an enum so tests and callers never parse messages.
    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Reason: String, Sendable, Hashable {
            case malformed, character, driver, transport, runsProgram, disabledByPolicy
            case path, authority, parameter, insecure, credentialFile, socket
        }

        public var reason: Reason
        public var message: String

        public var description: String { message }
    }

    /// Socket names libvirt's daemons listen on; a `socket` parameter must end in one, so a URI
    /// cannot point Drove at some other service's socket.
    static let socketNames: Set<String> = ["libvirt-sock", "libvirt-sock-ro", "virtqemud-sock", "virtqemud-sock-ro", "virtproxyd-sock", "virtproxyd-sock-ro"]

    /// Parameters each transport accepts; everything else is refused.
    static func acceptedParameters(_ transport: Transport) -> [String] {
        switch transport {
        case .local, .tcp, .test: []
        case .unix: ["mode", "socket"]
        case .ssh: ["keyfile", "mode", "no_tty", "proxy", "socket"]
        case .tls: ["pkipath"]
        }
    }

    /// Parameters refused whatever the transport, with the reason users read.
    static let refusedParameters: [String: (Refusal.Reason, String)] = [
        "command": (.runsProgram, "names a program for libvirt to run on the machine where Drove runs"),
        "netcat": (.runsProgram, "names a program for libvirt to run"),
        "no_verify": (.insecure, "turns off certificate verification, so any server can pose as the host"),
        "known_hosts_verify": (.insecure, "can turn off host key verification"),
        "known_hosts": (.credentialFile, "names a file for libvirt to read and write on the machine where Drove runs"),
        "tls_priority": (.insecure, "can weaken the TLS ciphers"),
        "sshauth": (.parameter, "belongs to the libssh transports, which Drove does not use"),
    ]

    /// Checks `text` against the allow-list and `policy`.
    public static func check(_ text: String, policy: ManifestPolicy) -> Result<HostURI, Refusal> {
        func refuse(_ reason: Refusal.Reason, _ message: String) -> Result<HostURI, Refusal> {
            .failure(Refusal(reason: reason, message: message))
        }
        let accepted = "accepted: qemu:///system, qemu+unix:///system?socket=PATH, qemu+ssh://[user@]host/system, qemu+tls://host/system"
        guard text.utf8.count <= 1024 else { return refuse(.malformed, "is longer than 1024 bytes") }
        if let bad = text.unicodeScalars.first(where: { !isURIScalar($0) }) {
            let shown = bad.properties.generalCategory == .control || bad == " " ? "U+\(String(bad.value, radix: 16, uppercase: true))" : "'\(bad)'"
            return refuse(.character, "contains \(shown); Drove accepts host URIs written with letters, digits and - . _ ~ : / ? = & @ + [ ] only (no percent-encoding, fragments or ';', which libvirt would read differently)")
        }
        guard let separator = text.range(of: "://") else {
            return refuse(.malformed, "is not a libvirt connection URI (expected e.g. qemu+ssh://root@node-a/system)")
        }
        let scheme = String(text[..<separator.lowerBound])
        let schemeParts = scheme.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let driver = schemeParts[0], transportName = schemeParts.count > 1 ? schemeParts[1] : nil

        var transport: Transport
        switch (driver, transportName) {
        case ("qemu", nil): transport = .local
        case ("qemu", "unix"?): transport = .unix
        case ("qemu", "ssh"?): transport = .ssh
        case ("qemu", "tls"?): transport = .tls
        case ("qemu", "tcp"?): transport = .tcp
        case ("test", nil): transport = .test
        case (_, "ext"?):
            return refuse(.runsProgram, "uses libvirt's ext transport, which runs a program named in the URI on the machine where Drove runs; it is never accepted (\(accepted))")
        case ("qemu", "libssh"?), ("qemu", "libssh2"?):
            return refuse(.transport, "uses the \(transportName!) transport, which Drove does not support; use qemu+ssh (\(accepted))")
        case ("qemu", let other?):
            return refuse(.transport, "uses an unknown transport \"\(other)\" (\(accepted))")
        case ("test", _?):
            return refuse(.transport, "reaches the test driver over a transport; only test:/// is accepted, and only where allowed")
        default:
            return refuse(.driver, "names the libvirt driver \"\(driver)\"; Drove manages QEMU guests only (\(accepted))")
        }

        let rest = text[separator.upperBound...]
        let queryStart = rest.firstIndex(of: "?")
        let beforeQuery = rest[..<(queryStart ?? rest.endIndex)]
        let pathStart = beforeQuery.firstIndex(of: "/") ?? beforeQuery.endIndex
        let authority = String(beforeQuery[..<pathStart])
        let path = String(beforeQuery[pathStart...])
        let query = queryStart.map { String(rest[rest.index(after: $0)...]) }

        var uri = HostURI(text: text, transport: transport, user: nil, host: nil, port: nil, path: path, parameters: [:])
        if !authority.isEmpty {
            switch parseAuthority(authority) {
            case let .success((user, host, port)): (uri.user, uri.host, uri.port) = (user, host, port)
            case let .failure(refusal): return .failure(refusal)
            }
        }

        switch transport {
        case .local:
            if uri.host != nil {
                return refuse(.authority, "names a host without a transport; say which: qemu+ssh://\(authority)/system or qemu+tls://\(authority)/system")
            }
        case .unix, .test:
            if !authority.isEmpty { return refuse(.authority, "names a host, but \(scheme):// reaches this machine only; write \(scheme):///…") }
        case .ssh, .tls, .tcp:
            if uri.host == nil { return refuse(.authority, "needs a host name: \(scheme)://[user@]host/system") }
        }
        if transport == .test {
            guard policy.testDriver else {
                return refuse(.disabledByPolicy, "uses libvirt's test driver, which is for tests and benchmarks only (allow it with --allow-test-driver)")
            }
            guard path == "/default" || (path.count > 1 && isCleanAbsolutePath(path)) else {
                return refuse(.path, "needs test:///default or test:///ABSOLUTE/PATH")
            }
        } else if path != "/system" {
            return refuse(.path, "has the path \"\(path.isEmpty ? "(none)" : path)\"; Drove connects to the system instance only (…/system)")
        }
        if transport == .tcp, !policy.tcp {
            return refuse(.disabledByPolicy, "uses qemu+tcp, which is neither encrypted nor authenticated; use qemu+tls or qemu+ssh (or allow it with --allow-tcp)")
        }

        if let query {
            for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let name = parts[0], value = parts.count > 1 ? parts[1] : nil
                if let (reason, why) = refusedParameters[name] {
                    return refuse(reason, "has the parameter \"\(name)\", which \(why); it is never accepted")
                }
                let allowed = acceptedParameters(transport)
                guard allowed.contains(name) else {
                    let list = allowed.isEmpty ? "none" : allowed.joined(separator: ", ")
                    return refuse(.parameter, "has the parameter \"\(name)\", which Drove does not accept for \(scheme) (accepted: \(list))")
                }
                guard let value, !value.isEmpty else { return refuse(.parameter, "has the parameter \"\(name)\" without a value") }
                guard uri.parameters[name] == nil else { return refuse(.parameter, "has the parameter \"\(name)\" twice") }
                if let refusal = checkParameter(name, value, policy: policy) { return .failure(refusal) }
                uri.parameters[name] = value
            }
        }
        return .success(uri)
    }

    private static func checkParameter(_ name: String, _ value: String, policy: ManifestPolicy) -> Refusal? {
        func refuse(_ reason: Refusal.Reason, _ message: String) -> Refusal { Refusal(reason: reason, message: message) }
        func oneOf(_ values: [String]) -> Refusal? {
            values.contains(value) ? nil : refuse(.parameter, "has \(name)=\(value); accepted: \(values.joined(separator: ", "))")
        }
        switch name {
        case "mode": return oneOf(["auto", "legacy", "direct"])
        case "proxy": return oneOf(["auto", "netcat", "native"])
        case "no_tty": return oneOf(["0", "1"])
        case "socket":
            guard isCleanAbsolutePath(value) else { return refuse(.socket, "has socket=\(value); it must be an absolute path without . or .. components") }
            let base = value.split(separator: "/").last.map(String.init) ?? ""
            guard socketNames.contains(base) else {
                return refuse(.socket, "has socket=\(value), which is not a libvirt daemon socket (its name must be one of \(socketNames.sorted().joined(separator: ", ")))")
            }
            return nil
        case "keyfile", "pkipath":
            guard isCleanAbsolutePath(value) else { return refuse(.credentialFile, "has \(name)=\(value); it must be an absolute path without . or .. components") }
            guard ManifestPolicy.allows(policy.credentialFiles, path: value) else {
                let rule: String = switch policy.credentialFiles {
                case .nowhere: "this Drove names no credential directory (start it with --credentials-dir DIR)"
                default: "credential files must lie in \(policy.credentialFiles)"
                }
                return refuse(.credentialFile, "has \(name)=\(value): \(rule)")
            }
            return nil
        default:
            return nil
        }
    }

    /// `[user@]host[:port]`, with a host name, an IPv4 address or a bracketed IPv6 address.
    /// Neither may start with `-`, which ssh would read as an option.
    static func parseAuthority(_ authority: String) -> Result<(String?, String, Int?), Refusal> {
        func refuse(_ message: String) -> Result<(String?, String, Int?), Refusal> {
            .failure(Refusal(reason: .authority, message: message))
        }
        var hostPart = Substring(authority)
        var user: String?
        if let at = authority.lastIndex(of: "@") {
            let name = String(authority[..<at])
            guard isUserName(name) else { return refuse("has the user name \"\(name)\"; use letters, digits, '.', '_' and '-', not starting with '-'") }
            user = name
            hostPart = authority[authority.index(after: at)...]
        }
        var port: Int?
        var host: String
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { return refuse("has an IPv6 address without its closing ']'") }
            host = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return refuse("has a malformed IPv6 address") }
            let after = hostPart[hostPart.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()) else { return refuse("has a malformed port") }
                port = number
            }
            host = "[\(host)]"
        } else {
            let parts = hostPart.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = String(parts[0])
            if parts.count > 1 {
                guard let number = Int(parts[1]) else { return refuse("has a malformed port \"\(parts[1])\"") }
                port = number
            }
            guard isHostName(host) else { return refuse("has the host \"\(host)\"; use a DNS name or an IP address (letters, digits, '.', '-', not starting with '-')") }
        }
        if let port, !(1...65535).contains(port) { return refuse("has the port \(port), outside 1-65535") }
        return .success((user, host, port))
    }

    private static func isURIScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": true
        case "-", ".", "_", "~", ":", "/", "?", "=", "&", "@", "+", "[", "]": true
        default: false
        }
    }

    private static func isHostName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first != "-", first != "." else { return false }
        return text.count <= 253 && text.unicodeScalars.allSatisfy { isAlphanumeric($0) || $0 == "-" || $0 == "." }
    }

    private static func isUserName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first != "-" else { return false }
        return text.count <= 64 && text.unicodeScalars.allSatisfy { isAlphanumeric($0) || $0 == "-" || $0 == "." || $0 == "_" }
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": true
        default: false
        }
    }

    /// Absolute, with no empty, `.` or `..` components, in the characters of `isURIScalar` minus
    /// the URI delimiters.
    static func isCleanAbsolutePath(_ path: String) -> Bool {
        guard path.hasPrefix("/"), path.count > 1 else { return false }
        let components = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        return components.allSatisfy { component in
            !component.isEmpty && component != "." && component != ".."
                && component.unicodeScalars.allSatisfy { isAlphanumeric($0) || $0 == "-" || $0 == "." || $0 == "_" || $0 == "~" }
        }
    }
}
