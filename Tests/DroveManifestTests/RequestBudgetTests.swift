import DroveManifest
import Testing

/// `ManifestLoader.requestBudgetProblem`: the per-file limits of documents and nodes, held over
/// all the files of one request together.
@Suite("The per-request budget of documents and nodes")
struct RequestBudgetTests {
    /// `count` documents of one line each, separated by `---` (document k starts on line 2k-2).
    static func documents(_ count: Int) -> String {
        Array(repeating: "a: 1", count: count).joined(separator: "\n---\n") + "\n"
    }

    static func source(_ name: String, _ text: String) -> ManifestSource {
        ManifestSource(name: name, text: text, baseDirectory: "/srv")
    }

    @Test("files of 1,000 documents in all are within it; the 1,001st is refused where it starts, in the file that goes over")
    func documentBudget() throws {
        #expect(ManifestLoader.requestBudgetProblem([Self.source("a", Self.documents(400)), Self.source("b", Self.documents(600))]) == nil)
        let problem = try #require(ManifestLoader.requestBudgetProblem([
            Self.source("a", Self.documents(400)), Self.source("b", Self.documents(400)), Self.source("c", Self.documents(400)),
        ]))
        #expect(problem.code == .tooLarge)
        // The 201st document of c.
        #expect("\(problem.location.file):\(problem.location.line):\(problem.location.column)" == "c:400:1")
        #expect(problem.message == "the request's files have more than 1000 documents in all; refusing it (send them in several requests)")
    }

    @Test("files of more than 100,000 nodes in all are refused, though each is within its own limit")
    func nodeBudget() throws {
        let list = "[" + Array(repeating: "1", count: 999).joined(separator: ",") + "]"
        let file = Array(repeating: list, count: 40).joined(separator: "\n---\n") + "\n"
        #expect(ManifestLoader.requestBudgetProblem([Self.source("a", file), Self.source("b", file)]) == nil)
        let problem = try #require(ManifestLoader.requestBudgetProblem([Self.source("a", file), Self.source("b", file), Self.source("c", file)]))
        #expect(problem.code == .tooLarge)
        #expect(problem.location.file == "c")
        #expect(problem.message.hasPrefix("the request's files have more than 100000 nodes in all"))
    }

    @Test("a file over its own limit is left to loading, which names it; what it held still counts towards the next files")
    func fileProblemsLeftToLoading() throws {
        #expect(ManifestLoader.requestBudgetProblem([Self.source("big", Self.documents(1001))]) == nil)
        let loaded = ManifestLoader().check(sources: [Self.source("big", Self.documents(1001))])
        #expect(loaded.diagnostics.map(\.message) == ["file has more than 1000 documents; refusing it (split it into several files)"])

        let problem = try #require(ManifestLoader.requestBudgetProblem([Self.source("big", Self.documents(1001)), Self.source("next", "a: 1\n")]))
        #expect(problem.location.file == "next")
    }
}
