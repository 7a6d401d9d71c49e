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

    /// Appends the cached ids of `piece` (whose `PieceKey` has `hash`) and returns true, or returns false.
    func appendIDs(of piece: UnsafeBufferPointer<UInt8>, hash: UInt64, to ids: inout [Int32]) -> Bool {
        guard piece.count <= Self.maxPieceLength else { return false }
        return withShard(hash) { shard, slot in
            shard.slots.withLock { slots in slots.appendIDs(of: piece, hash: hash, at: slot, to: &ids) }
        }
    }

    func insert(_ piece: UnsafeBufferPointer<UInt8>, hash: UInt64, ids: UnsafeBufferPointer<Int32>) {
        guard piece.count <= Self.maxPieceLength, ids.count <= Self.maxIDs else { return }
        withShard(hash) { shard, slot in
            shard.slots.withLock { slots in slots.store(piece, hash: hash, ids: ids, at: slot) }
        }
    }

    /// Shards take the top bits of the hash, slots the bottom ones. (Through a buffer pointer, the shard is
    /// borrowed rather than retained and released.)
    @inline(__always)
    private func withShard<Result>(_ hash: UInt64, _ body: (Shard, Int) -> Result) -> Result {
        shards.withUnsafeBufferPointer { shards in
            body(shards[Int(truncatingIfNeeded: hash >> 32) & (shards.count - 1)], Int(truncatingIfNeeded: hash) & (slotsPerShard - 1))
        }
    }
}

private final class Shard: Sendable {
    let slots: Mutex<Slots>
    init(slots count: Int) { slots = Mutex(Slots(count: count)) }
}

/// The slots of one shard, in one allocation of fixed-size records:
/// hash, piece length and id count, the piece's bytes, its ids.
private struct Slots {
    private var words: [UInt64]

    private static let pieceWords = PieceCache.maxPieceLength / 8
    private static let stride = 2 + pieceWords + PieceCache.maxIDs / 2

    init(count: Int) { words = Array(repeating: 0, count: count * Self.stride) }  // length 0: empty

    func appendIDs(of piece: UnsafeBufferPointer<UInt8>, hash: UInt64, at slot: Int, to ids: inout [Int32]) -> Bool {
        words.withUnsafeBufferPointer { words in
            let record = UnsafeRawPointer(words.baseAddress! + slot * Self.stride)
            guard record.load(as: UInt64.self) == hash,
                  Int(record.load(fromByteOffset: 8, as: UInt32.self)) == piece.count,
                  bytesEqual(record + 16, piece.baseAddress!, count: piece.count)
            else { return false }
            let idsOffset = 16 + 8 * Self.pieceWords
            for index in 0..<Int(record.load(fromByteOffset: 12, as: UInt32.self)) {
                ids.append(record.load(fromByteOffset: idsOffset + 4 * index, as: Int32.self))
            }
            return true
        }
    }

    mutating func store(_ piece: UnsafeBufferPointer<UInt8>, hash: UInt64, ids: UnsafeBufferPointer<Int32>, at slot: Int) {
        words.withUnsafeMutableBufferPointer { words in
            let record = UnsafeMutableRawPointer(words.baseAddress! + slot * Self.stride)
            record.storeBytes(of: hash, as: UInt64.self)
            record.storeBytes(of: UInt32(piece.count), toByteOffset: 8, as: UInt32.self)
            record.storeBytes(of: UInt32(ids.count), toByteOffset: 12, as: UInt32.self)
            (record + 16).copyMemory(from: piece.baseAddress!, byteCount: piece.count)
            (record + 16 + 8 * Self.pieceWords).copyMemory(from: ids.baseAddress!, byteCount: ids.count * 4)
        }
    }
}
