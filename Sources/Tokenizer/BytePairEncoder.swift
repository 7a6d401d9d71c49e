/// Byte-pair encoding of one piece that is not a token itself, exactly as tiktoken does it: starting from
/// single bytes, repeatedly merge the adjacent pair whose merged token has the lowest rank, the leftmost
/// such pair on a tie, until no adjacent pair merges into a token.
struct BytePairEncoder: Sendable {
    let idOfByte: [Int32]
    let merges: MergeTable

    /// Up to this length a linear scan for the best pair beats keeping a heap (words are short);
    /// beyond it the heap keeps long runs (padding, base64 without breaks) from costing O(n²).
    static let longPieceLength = 64

    func encode(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32]) {
        if piece.count <= Self.longPieceLength {
            encodeByScanning(piece, into: &ids)
        } else {
            encodeWithHeap(piece, into: &ids)
        }
    }

    /// O(n²): parts and the merges of adjacent parts live in two arrays that shrink by one per merge.
    func encodeByScanning(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32]) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: piece.count) { partsBuffer in
            withUnsafeTemporaryAllocation(of: Merge.self, capacity: piece.count) { pairsBuffer in
                // pairs[i] merges parts[i] and parts[i + 1].
                let parts = partsBuffer.baseAddress!, pairs = pairsBuffer.baseAddress!
                var count = piece.count
                for index in 0..<count { parts[index] = idOfByte[Int(piece[index])] }
                for index in 0..<count - 1 { pairs[index] = merges.merge(parts[index], parts[index + 1]) }
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
                ids.append(contentsOf: UnsafeBufferPointer(start: parts, count: count))
            }
        }
    }

    /// O(n log n): parts form a linked list over their first byte's offset; a min-heap holds candidate
    /// merges keyed by (rank, offset), which is tiktoken's order. An entry is stale once either of its
    /// parts has been merged; that is detected when it surfaces, as the pair at its offset then merges
    /// into a different token (a longer one, so of another rank) or not at all.
    func encodeWithHeap(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32]) {
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
        for offset in 0..<count - 1 { pushCandidate(at: offset) }

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

        var offset = 0
        while offset < count {
            ids.append(parts[offset])
            offset = next[offset]
        }
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
