/// The text-bearing structure of a message: which text parts there are, and which of them are
/// alternatives to each other. Built while parsing; turned into one body text at the end.
///
/// Nodes are stored flat and a child always comes after its parent, so the tree is evaluated
/// bottom-up by walking the array backwards: no recursion, whatever the nesting.
struct TextTree: Sendable {
    struct Leaf: Sendable {
        /// The part's transfer-decoded bytes in the `TextArena`.
        var bytes: Range<Int>
        var charset: Charset?
        var isHTML: Bool
    }

    private enum Node: Sendable {
        /// Children's texts one after another: the message itself, multipart/mixed, related, ….
        case sequence(children: [Int])
        /// The child that carries the most text.
        case alternative(children: [Int])
        case leaf(Int)
    }

    private var nodes: [Node] = [.sequence(children: [])]
    private(set) var leaves: [Leaf] = []

    static let root = 0

    mutating func addGroup(isAlternative: Bool, under parent: Int) -> Int {
        add(isAlternative ? .alternative(children: []) : .sequence(children: []), under: parent)
    }

    mutating func addLeaf(_ leaf: Leaf, under parent: Int) -> Int {
        leaves.append(leaf)
        _ = add(.leaf(leaves.count - 1), under: parent)
        return leaves.count - 1
    }

    mutating func setEnd(ofLeaf index: Int, to end: Int) {
        leaves[index].bytes = leaves[index].bytes.lowerBound..<max(end, leaves[index].bytes.lowerBound)
    }

    private mutating func add(_ node: Node, under parent: Int) -> Int {
        nodes.append(node)
        let index = nodes.count - 1
        switch nodes[parent] {
        case .sequence(var children):
            nodes[parent] = .leaf(-1) // drop the enum's reference so the append does not copy
            children.append(index)
            nodes[parent] = .sequence(children: children)
        case .alternative(var children):
            nodes[parent] = .leaf(-1)
            children.append(index)
            nodes[parent] = .alternative(children: children)
        case .leaf:
            preconditionFailure("a text leaf has no children")
        }
        return index
    }

    /// The body: leaf texts (already rendered and folded, indexed like `leaves`) joined by line
    /// breaks, keeping of each alternative the child with the most text (the later on a tie, as
    /// RFC 2046 orders alternatives by preference).
    func body(leafTexts: [[UInt8]]) -> [UInt8] {
        var texts = [[UInt8]](repeating: [], count: nodes.count)
        for index in nodes.indices.reversed() {
            switch nodes[index] {
            case .leaf(let leaf):
                texts[index] = leafTexts[leaf]
            case .sequence(let children):
                var joined: [UInt8] = []
                for child in children where !texts[child].isEmpty {
                    if !joined.isEmpty { joined.append(0x0A) }
                    joined += texts[child]
                    texts[child] = []
                }
                texts[index] = joined
            case .alternative(let children):
                let best = children.max { texts[$0].count < texts[$1].count || texts[$0].count == texts[$1].count && $0 < $1 }
                if let best { texts[index] = texts[best] }
                for child in children { texts[child] = [] }
            }
        }
        return texts[Self.root]
    }
}
