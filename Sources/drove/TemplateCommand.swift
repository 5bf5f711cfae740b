import ArgumentParser
import DroveAPI
import DroveClient
import Foundation
import Synchronization

/// `drove template push FILE --name NAME`: stores an image in the controller's template store
/// and points the Template NAME at it.
struct TemplateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template",
        abstract: "Manage the controller's template images.",
        subcommands: [Push.self])

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Push a disk image to the controller and create (or update) the Template that uses it.",
            discussion: """
                The image is streamed to `drove serve`, which stores it by its SHA-256 (the same bytes \
                are kept once), checks it with qemu-img (a qcow2 or raw image with no backing file and \
                no external data file) and applies the Template NAME with source.blob set to its digest.
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable { case qcow2, raw }
        enum Visibility: String, ExpressibleByArgument, CaseIterable { case `private`, shared }
        enum Output: String, ExpressibleByArgument, CaseIterable { case text, json, yaml }

        @Argument(help: "The image file.")
        var file: String

        @Option(help: "The Template's name.")
        var name: String

        @Option(help: "The image's format (default: qcow2 if the file starts like one, else raw).")
        var format: Format?

        @Option(help: "Who may use the template: private (its owner) or shared (every user).")
        var visibility: Visibility = .private

        @Option(name: .shortAndLong, help: "Output format: text, json or yaml.")
        var output: Output = .text

        @OptionGroup var connection: ClientOptions

        func validate() throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw ValidationError("\(file) is not a file")
            }
        }

        func run() async throws {
            let format = self.format ?? Self.detectFormat(file)
            let lastShown = Mutex(-1)
            try await reportingClientErrors {
                let answer = try await connection.client().pushTemplate(
                    file: file, name: name, format: format.rawValue, visibility: visibility.rawValue
                ) { sent, total in
                    let percent = total > 0 ? Int(sent * 100 / total) : 0
                    guard lastShown.withLock({ shown in defer { shown = percent }; return shown != percent }) else { return }
                    let line = "pushing \(name): \(percent)% \(Terminal.bytes(UInt64(max(0, sent))))/\(Terminal.bytes(UInt64(max(0, total))))"
                    if Terminal.isInteractive { Terminal.transient(line) } else if percent % 25 == 0 { Terminal.status(line) }
                }
                Terminal.clearTransient()
                switch output {
                case .text:
                    print("template/\(answer.name) \(answer.result): \(answer.digest), \(Terminal.bytes(answer.size)) \(answer.format), "
                        + "\(Terminal.bytes(answer.virtualSize)) virtual")
                case .json: print(try ClientText.json(answer))
                case .yaml: print(try ClientText.yaml(answer), terminator: "")
                }
            }
        }

        /// qcow2 when the file starts with qcow2's magic, raw otherwise.
        static func detectFormat(_ path: String) -> Format {
            guard let handle = FileHandle(forReadingAtPath: path) else { return .qcow2 }
            defer { try? handle.close() }
            let magic = (try? handle.read(upToCount: 4)) ?? nil
            return magic == Data([0x51, 0x46, 0x49, 0xfb]) ? .qcow2 : .raw
        }
    }
}
