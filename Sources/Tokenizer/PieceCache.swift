import Foundation  // memcmp
import Synchronization

/// Remembers the ids of recently merged pieces, so that a frequent word that is not a single token is
/// merged once, not at every occurrence.
///
/// Bounded by construction: a fixed number of slots, each holding one piece (up to `maxPieceLength`
/// bytes, up to `maxIDs` ids — nearly every repeated word), chosen by the piece's hash; a new piece
/// evicts the one in its slot. The slots are split into shards, each behind its own lock, so threads
/// encoding at once rarely wait for each other.
final class PieceCache: Sendable {
    static let maxPieceLength = 32
    static let maxIDs = 8

    private let shards: [Shard]
    private let slotsPerShard: Int

    init(shardCount: Int = 16, slotsPerShard: Int = 2048) {
        precondition(shardCount.nonzeroBitCount == 1 && slotsPerShard.nonzeroBitCount == 1)
        self.slotsPerShard = slotsPerShard
        shards = (0..<shardCount).map { _ in Shard(slots: slotsPerShard) }
    }

    /// Appends the cached ids of `piece` (whose `hashBytes` is `hash`) and returns true, or returns false.
    func appendIDs(of piece: UnsafeBufferPointer<UInt8>, hash: UInt64, to ids: inout [Int32]) -> Bool {
        guard piece.count <= Self.maxPieceLength else { return false }
        let slot = slotIndex(hash)
        return shard(hash).slots.withLock { slots in
            guard slots.holds(piece, hash: hash, at: slot) else { return false }
            slots.appendIDs(at: slot, to: &ids)
            return true
        }
    }

    func insert(_ piece: UnsafeBufferPointer<UInt8>, hash: UInt64, ids: UnsafeBufferPointer<Int32>) {
        guard piece.count <= Self.maxPieceLength, ids.count <= Self.maxIDs else { return }
        let slot = slotIndex(hash)
        shard(hash).slots.withLock { slots in slots.store(piece, hash: hash, ids: ids, at: slot) }
    }

    // Shards take the top bits of the hash, slots the bottom ones.
    private func shard(_ hash: UInt64) -> Shard { shards[Int(truncatingIfNeeded: hash >> 32) & (shards.count - 1)] }
    private func slotIndex(_ hash: UInt64) -> Int { Int(truncatingIfNeeded: hash) & (slotsPerShard - 1) }
}

private final class Shard: Sendable {
    let slots: Mutex<Slots>
    init(slots count: Int) { slots = Mutex(Slots(count: count)) }
}

/// Fixed-stride storage of the slots of one shard.
private struct Slots {
    private var hashes: [UInt64]
    private var pieceLengths: [UInt8]  // 0: empty slot (pieces are never empty)
    private var idCounts: [UInt8]
    private var pieces: [UInt8]  // PieceCache.maxPieceLength bytes a slot
    private var ids: [Int32]  // PieceCache.maxIDs a slot

    init(count: Int) {
        hashes = Array(repeating: 0, count: count)
        pieceLengths = Array(repeating: 0, count: count)
        idCounts = Array(repeating: 0, count: count)
        pieces = Array(repeating: 0, count: count * PieceCache.maxPieceLength)
        ids = Array(repeating: 0, count: count * PieceCache.maxIDs)
    }

    func holds(_ piece: UnsafeBufferPointer<UInt8>, hash: UInt64, at slot: Int) -> Bool {
        hashes[slot] == hash && Int(pieceLengths[slot]) == piece.count && pieces.withUnsafeBufferPointer {
            memcmp($0.baseAddress! + slot * PieceCache.maxPieceLength, piece.baseAddress!, piece.count) == 0
        }
    }

    func appendIDs(at slot: Int, to output: inout [Int32]) {
        let start = slot * PieceCache.maxIDs
        output.append(contentsOf: ids[start..<start + Int(idCounts[slot])])
    }

    mutating func store(_ piece: UnsafeBufferPointer<UInt8>, hash: UInt64, ids newIDs: UnsafeBufferPointer<Int32>, at slot: Int) {
        hashes[slot] = hash
        pieceLengths[slot] = UInt8(piece.count)
        idCounts[slot] = UInt8(newIDs.count)
        let pieceStart = slot * PieceCache.maxPieceLength
        pieces.replaceSubrange(pieceStart..<pieceStart + piece.count, with: piece)
        let idStart = slot * PieceCache.maxIDs
        ids.replaceSubrange(idStart..<idStart + newIDs.count, with: newIDs)
    }
}
