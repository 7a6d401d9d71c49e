/// Byte-pair encoding of one piece that is not a token itself, exactly as tiktoken does it: starting from
/// single bytes, repeatedly merge the adjacent pair whose merged token has the lowest rank, the leftmost
/// such pair on a tie, until no adjacent pair merges into a token.
struct BytePairEncoder: Sendable {
    let idOfByte: [Int32]
    let merges: MergeTable
    /// The merge of every two bytes, indexed by first << 8 | second: BPE looks up every adjacent pair of
    /// bytes first, and this small table stays in the CPU caches where `merges` would not.
    private let byteMerges: [Merge]

    init(idOfByte: [Int32], merges: MergeTable) {
        self.idOfByte = idOfByte
        self.merges = merges
        byteMerges = (0..<65536).map { merges.merge(idOfByte[$0 >> 8], idOfByte[$0 & 0xFF]) }
    }

    /// Up to this length a linear scan for the best pair beats keeping a heap (on random letters they
    /// break even near 200 bytes); beyond it the heap keeps long runs, e.g. base64 without line breaks,
    /// from costing O(n²).
    static let longPieceLength = 192

    /// Calls `body` with the ids of `piece`, at least two bytes long.
    func encode(_ piece: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<Int32>) -> Void) {
        if piece.count <= Self.longPieceLength {
            encodeByScanning(piece, body)
        } else {
            encodeWithHeap(piece).withUnsafeBufferPointer(body)
        }
    }

    /// O(n²): parts and the merges of adjacent parts live in two arrays that shrink by one per merge.
    func encodeByScanning(_ piece: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<Int32>) -> Void) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: piece.count) { partsBuffer in
            withUnsafeTemporaryAllocation(of: Merge.self, capacity: piece.count) { pairsBuffer in
                // pairs[i] merges parts[i] and parts[i + 1].
                let parts = partsBuffer.baseAddress!, pairs = pairsBuffer.baseAddress!
                var count = piece.count
                for index in 0..<count { parts[index] = idOfByte[Int(piece[index])] }
                for index in 0..<count - 1 { pairs[index] = byteMerges[Int(piece[index]) << 8 | Int(piece[index + 1])] }
                while count > 1 {
                    var best = Merge.none
                    var at = 0
                    for index in 0..<count - 1 where pairs[index] < best {
                        best = pairs[index]
                        at = index
                    }
                    if best == .none { break }

                    parts[at] = best.id
                    count -= 1
                    // Close the gap the right part leaves: parts and pairs after `at` move down one.
                    (parts + at + 1).update(from: parts + at + 2, count: count - at - 1)
                    if at + 1 < count - 1 { (pairs + at + 1).update(from: pairs + at + 2, count: count - at - 2) }
                    if at + 1 < count { pairs[at] = merges.merge(parts[at], parts[at + 1]) }
                    if at > 0 { pairs[at - 1] = merges.merge(parts[at - 1], parts[at]) }
                }
                body(UnsafeBufferPointer(start: parts, count: count))
            }
        }
    }

    /// O(n log n): parts form a linked list over their first byte's offset; a min-heap holds candidate
    /// merges keyed by (rank, offset), which is tiktoken's order. An entry is stale once either of its
    /// parts has been merged; that is detected when it surfaces, as the pair at its offset then merges
    /// into a different token (a longer one, so of another rank) or not at all.
    func encodeWithHeap(_ piece: UnsafeBufferPointer<UInt8>) -> [Int32] {
        let count = piece.count
        var parts = piece.map { idOfByte[Int($0)] }  // indexed by offset; valid where a part starts
        var next = Array(1...count)  // offset of the following part; `count` at the end
        var previous = Array(-1..<count - 1)
        var heap = CandidateHeap()
        func pushCandidate(at offset: Int) {
            guard offset >= 0, next[offset] < count else { return }
            let merge = merges.merge(parts[offset], parts[next[offset]])
            if merge != .none { heap.push(rank: merge.rank, offset: offset) }
        }
        for offset in 0..<count - 1 {
            let merge = byteMerges[Int(piece[offset]) << 8 | Int(piece[offset + 1])]
            if merge != .none { heap.push(rank: merge.rank, offset: offset) }
        }

        while let (rank, offset) = heap.popMin() {
            guard next[offset] < count else { continue }  // stale: its right part was merged into the left one
            let right = next[offset]
            let merge = merges.merge(parts[offset], parts[right])
            guard merge != .none, merge.rank == rank else { continue }  // stale
            parts[offset] = merge.id
            next[offset] = next[right]
            if next[right] < count { previous[next[right]] = offset }
            next[right] = count  // a merged-away offset can no longer start a pair
            pushCandidate(at: previous[offset])
            pushCandidate(at: offset)
        }

        var ids: [Int32] = []
        var offset = 0
        while offset < count {
            ids.append(parts[offset])
            offset = next[offset]
        }
        return ids
    }
}

/// A binary min-heap of (rank, offset) candidates, packed into one integer each.
private struct CandidateHeap {
    private var items: [UInt64] = []

    mutating func push(rank: UInt32, offset: Int) {
        items.append(UInt64(rank) << 32 | UInt64(offset))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMin() -> (rank: UInt32, offset: Int)? {
        guard let last = items.popLast() else { return nil }
        var top = last
        if !items.isEmpty {
            swap(&top, &items[0])
            var parent = 0
            while true {
                var smallest = parent
                let left = 2 * parent + 1, right = left + 1
                if left < items.count && items[left] < items[smallest] { smallest = left }
                if right < items.count && items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return (UInt32(top >> 32), Int(top & 0xFFFF_FFFF))
    }
}
