import DroveManifest
import Testing

@Suite("Names and labels")
struct NameTests {
    @Test("DNS-1123 labels", arguments: [
        ("web", true), ("node-1", true), ("a", true), ("0", true), ("a-b-c", true),
        (String(repeating: "a", count: 63), true), (String(repeating: "a", count: 64), false),
        ("", false), ("Web", false), ("web_1", false), ("-web", false), ("web-", false), ("web.1", false), ("wéb", false),
    ])
    func dnsLabels(name: String, valid: Bool) {
        #expect(Names.isDNSLabel(name) == valid)
    }

    @Test("label keys", arguments: [
        ("rack", true), ("Rack_1.a-b", true), ("example.com/rack", true), ("a.b-c.d/x", true),
        (String(repeating: "k", count: 63), true), (String(repeating: "k", count: 64), false),
        ("", false), ("-rack", false), ("rack-", false), ("Example.com/rack", false), ("example.com/", false),
        ("/rack", false), ("a/b/c", false), ("ra ck", false),
    ])
    func labelKeys(key: String, valid: Bool) {
        #expect(Names.isLabelKey(key) == valid)
    }

    @Test("label values", arguments: [
        ("", true), ("a", true), ("v1.2_3-x", true), (String(repeating: "v", count: 63), true),
        (String(repeating: "v", count: 64), false), ("-a", false), ("a.", false), ("a b", false), ("a/b", false),
    ])
    func labelValues(value: String, valid: Bool) {
        #expect(Names.isLabelValue(value) == valid)
    }

    @Test("selectors select objects carrying all their labels")
    func selectors() {
        let selector = LabelSelector(["rack": "a", "ssd": "true"])
        #expect(selector.matches(["rack": "a", "ssd": "true", "zone": "x"]))
        #expect(!selector.matches(["rack": "a"]))
        #expect(!selector.matches(["rack": "b", "ssd": "true"]))
        #expect(LabelSelector().matches([:]))
    }
}
