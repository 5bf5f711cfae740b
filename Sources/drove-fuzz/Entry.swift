/// libFuzzer's entry point: built with `-sanitize=fuzzer` (scripts/fuzz.sh), libFuzzer's own
/// `main` drives it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzInput.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
