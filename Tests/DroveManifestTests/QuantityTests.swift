import DroveManifest
import Testing

@Suite("Quantities")
struct QuantityTests {
    @Test("valid quantities", arguments: [
        ("0", UInt64(0)), ("1", 1), ("536870912", 536_870_912),
        ("1Ki", 1024), ("512Mi", 512 << 20), ("2Gi", 2 << 30), ("1Ti", 1 << 40),
        ("1k", 1_000), ("5M", 5_000_000), ("3G", 3_000_000_000), ("2T", 2_000_000_000_000),
        ("18446744073709551615", UInt64.max), ("16777215Ti", 16_777_215 << 40),
    ])
    func valid(text: String, bytes: UInt64) throws {
        #expect(try Quantity.parse(text) == bytes)
    }

    @Test("invalid quantities", arguments: [
        ("", Quantity.ParseError.empty),
        ("-1Gi", .negative),
        ("1.5Gi", .fraction),
        ("0.5", .fraction),
        ("512MB", .unknownSuffix("MB")),
        ("1gi", .unknownSuffix("gi")),
        ("1K", .unknownSuffix("K")),
        ("Mi", .malformed),
        ("1 Gi", .malformed),
        ("+1Gi", .malformed),
        ("1e3", .malformed),
        ("99999999999999999999", .overflow),
        ("17179869184Gi", .overflow),
        ("16777216Ti", .overflow),
        ("18446744073709551616", .overflow),
    ])
    func invalid(text: String, error: Quantity.ParseError) {
        #expect(throws: error) { try Quantity.parse(text) }
    }

    @Test("formatting picks the largest exact binary suffix", arguments: [
        (UInt64(0), "0"), (1023, "1023"), (1024, "1Ki"), (1536, "1536"), (512 << 20, "512Mi"),
        (3 << 30, "3Gi"), (1 << 40, "1Ti"), (1_000_000, "1000000"),
    ])
    func format(bytes: UInt64, text: String) throws {
        #expect(Quantity.format(bytes) == text)
        #expect(try Quantity.parse(text) == bytes)
    }

    @Test("memory accepts a plain integer of bytes and quoted quantities")
    func memoryForms() throws {
        let manifest = try load("""
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: a }
            spec: { replicas: 1, template: tiny, resources: { memory: 67108864 } }
            ---
            apiVersion: drove/v1
            kind: VMSet
            metadata: { name: b }
            spec: { replicas: 1, template: tiny, resources: { memory: "1Gi" } }

            """ + tinyTemplate)
        #expect(manifest.vmSets.map(\.spec.resources.memory) == [64 << 20, 1 << 30])
    }
}
