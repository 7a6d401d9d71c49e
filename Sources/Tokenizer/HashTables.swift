import Foundation  // memcmp

/// A fast, unkeyed 64-bit hash of a short byte string. The tables that use it are either fixed at load
/// time or fixed-size (`PieceCache`), so crafted collisions in mail cannot make lookups degrade.
@inline(__always)
func hashBytes(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
    let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
    let raw = UnsafeRawBufferPointer(bytes)
    var hash = UInt64(truncatingIfNeeded: raw.count) &* multiplier
    var offset = 0
    while offset + 8 <= raw.count {
        hash = (hash ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* multiplier
        hash ^= hash >> 32
        offset += 8
    }
    if offset < raw.count {
        var tail: UInt64 = 0
        for index in offset..<raw.count { tail = tail << 8 | UInt64(raw[index]) }
        hash = (hash ^ tail) &* multiplier
    }
    hash ^= hash >> 29
    hash &*= 0xBF58_476D_1CE4_E5B9
    return hash ^ (hash >> 32)
}

/// An immutable open-addressing map from byte strings to token ids.
struct TokenTable: Sendable {
    private struct Slot {
        var hash: UInt64
        var start: UInt32
        var length: UInt32
        var id: Int32  // -1: empty
    }

    private let slots: [Slot]
    private let bytes: [UInt8]
    private let mask: Int

    init(_ tokens: [(bytes: [UInt8], id: Int32)]) {
        var capacity = 16
        while capacity < tokens.count * 2 { capacity *= 2 }
        var slots = [Slot](repeating: Slot(hash: 0, start: 0, length: 0, id: -1), count: capacity)
        var bytes = [UInt8]()
        for token in tokens {
            let hash = token.bytes.withUnsafeBufferPointer(hashBytes)
            var index = Int(truncatingIfNeeded: hash) & (capacity - 1)
            while slots[index].id >= 0 { index = (index + 1) & (capacity - 1) }
            slots[index] = Slot(hash: hash, start: UInt32(bytes.count), length: UInt32(token.bytes.count), id: token.id)
            bytes += token.bytes
        }
        self.slots = slots
        self.bytes = bytes
        self.mask = capacity - 1
    }

    /// The id of `piece`, whose `hashBytes` is `hash`.
    @inline(__always)
    func id(of piece: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Int32? {
        slots.withUnsafeBufferPointer { slots in
            var index = Int(truncatingIfNeeded: hash) & mask
            while true {
                let slot = slots[index]
                if slot.id < 0 { return nil }
                if slot.hash == hash, Int(slot.length) == piece.count,
                   bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress! + Int(slot.start), piece.baseAddress!, piece.count) == 0 }) {
                    return slot.id
                }
                index = (index + 1) & mask
            }
        }
    }
}

/// What merging two adjacent parts gives: a token and its rank, packed so that comparing two merges
/// compares their ranks (ranks of merged tokens are unique). `none` compares above every real merge.
struct Merge: Comparable {
    private let packed: UInt64

    static let none = Merge(packed: .max)

    init(rank: UInt32, id: Int32) { packed = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: id)) }
    private init(packed: UInt64) { self.packed = packed }

    var rank: UInt32 { UInt32(truncatingIfNeeded: packed >> 32) }
    var id: Int32 { Int32(bitPattern: UInt32(truncatingIfNeeded: packed)) }

    static func < (a: Merge, b: Merge) -> Bool { a.packed < b.packed }
}

/// An immutable open-addressing map from a pair of adjacent token ids to the merge of the two.
struct MergeTable: Sendable {
    private let keys: [UInt64]  // left << 32 | right; `emptyKey` when free
    private let merges: [Merge]
    private let shift: UInt64

    private static let emptyKey = UInt64.max

    init(_ entries: [(left: Int32, right: Int32, merge: Merge)]) {
        var bits: UInt64 = 4
        while 1 << bits < entries.count * 2 { bits += 1 }
        var keys = [UInt64](repeating: Self.emptyKey, count: 1 << bits)
        var merges = [Merge](repeating: .none, count: 1 << bits)
        shift = 64 - bits
        for entry in entries {
            let key = Self.key(entry.left, entry.right)
            var index = Self.index(key, shift)
            while keys[index] != Self.emptyKey { index = (index + 1) & (keys.count - 1) }
            keys[index] = key
            merges[index] = entry.merge
        }
        self.keys = keys
        self.merges = merges
    }

    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> Merge {
        let key = Self.key(left, right)
        return keys.withUnsafeBufferPointer { keys in
            var index = Self.index(key, shift)
            while true {
                let found = keys[index]
                if found == key { return merges[index] }
                if found == Self.emptyKey { return .none }
                index = (index + 1) & (keys.count - 1)
            }
        }
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Fibonacci hashing: the top bits of the product spread consecutive ids well.
    @inline(__always)
    private static func index(_ key: UInt64, _ shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }
}
