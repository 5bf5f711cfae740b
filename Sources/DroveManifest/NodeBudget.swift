import Yams

/// Counts a document's nodes as the walker would see them, aliases expanded, without recursion
/// and stopping at the limit: the check costs at most `limit` steps, however large the expansion.
enum NodeBudget {
    enum Verdict: Equatable {
        case within
        case tooManyNodes
        case tooDeep
    }

    static func check(_ root: Node, maxNodes: Int, maxDepth: Int) -> Verdict {
        var stack: [(node: Node, depth: Int)] = [(root, 0)]
        var count = 0
        while let (node, depth) = stack.popLast() {
            count += 1
            if count > maxNodes { return .tooManyNodes }
            if depth > maxDepth { return .tooDeep }
            // Every node on the stack will be counted: stop as soon as they cannot all fit.
            switch node {
            case let .mapping(mapping):
                for (key, value) in mapping {
                    if count + stack.count + 2 > maxNodes { return .tooManyNodes }
                    stack.append((key, depth + 1))
                    stack.append((value, depth + 1))
                }
            case let .sequence(sequence):
                for element in sequence {
                    if count + stack.count + 1 > maxNodes { return .tooManyNodes }
                    stack.append((element, depth + 1))
                }
            case .scalar, .alias:
                break
            }
        }
        return .within
    }
}
