import Crypto
import Yams

/// Manifest text as it may be shown: cloud-init user data and network config (which carry
/// passwords, keys and tokens) replaced by their digests. Everything the API returns and the
/// CLI prints of a stored manifest goes through here.
public enum ManifestRedaction {
    static let secretFields = ["userData", "networkConfig"]

    /// `text` with `spec.cloudInit.userData` and `.networkConfig` shown as `<redacted sha256:…>`;
    /// `text` itself when it has neither (or is not one YAML mapping).
    public static func redacted(_ text: String) -> String {
        guard text.contains("userData") || text.contains("networkConfig"),
              var root = try? Yams.compose(yaml: text), case var .mapping(document) = root,
              case var .mapping(spec)? = document["spec"], case var .mapping(cloudInit)? = spec["cloudInit"] else { return text }
        var changed = false
        for field in secretFields {
            guard case let .scalar(scalar)? = cloudInit[field] else { continue }
            cloudInit[field] = .scalar(.init("<redacted sha256:\(SHA256Hex.of(Array(scalar.string.utf8)))>"))
            changed = true
        }
        guard changed else { return text }
        spec["cloudInit"] = .mapping(cloudInit)
        document["spec"] = .mapping(spec)
        root = .mapping(document)
        return (try? Yams.serialize(node: root)) ?? text
    }
}
