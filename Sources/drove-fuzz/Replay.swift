#if !DROVE_FUZZ
import Foundation

/// Without libFuzzer (a plain `swift build`): runs each file named on the command line through
/// the same input, to replay a crash file or a corpus without the fuzzer's instrumentation.
/// scripts/fuzz.sh builds with `-D DROVE_FUZZ`, where libFuzzer supplies `main` instead.
@main
struct Replay {
    static func main() throws {
        let paths = CommandLine.arguments.dropFirst()
        guard !paths.isEmpty else {
            FileHandle.standardError.write(Data("usage: drove-fuzz FILE... (scripts/fuzz.sh runs the fuzzer)\n".utf8))
            exit(2)
        }
        for path in paths {
            FuzzInput.run(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            print("\(path): ok")
        }
    }
}
#endif
