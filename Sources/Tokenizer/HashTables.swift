/// What the tables look a piece up by: its first eight bytes, zero-padded, and a 64-bit hash of it all.
///
/// The hash is fast and unkeyed. The tables using it are fixed at load time or fixed-size (`PieceCache`),
/// so mail crafted to collide cannot make lookups degrade.
struct PieceKey {
    let head: UInt64
    let hash: UInt64

    @inline(__always)
    init(_ piece: UnsafeBufferPointer<UInt8>) {
        let count = piece.count
        guard let raw = UnsafeRawPointer(piece.baseAddress), count > 0 else {
            head = 0
            hash = mix(0)
            return
        }
        // Overlapping loads, never reading outside the piece.
        switch count {
        case 1...3:
            head = UInt64(raw.load(as: UInt8.self)) | UInt64(raw.load(fromByteOffset: count >> 1, as: UInt8.self)) << (8 * UInt64(count >> 1))
                | UInt64(raw.load(fromByteOffset: count - 1, as: UInt8.self)) << (8 * UInt64(count - 1))
        case 4...8:
            head = UInt64(raw.loadUnaligned(as: UInt32.self))
                | (UInt64(raw.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)) >> (8 * UInt64(8 - count))) << 32
        default:
            head = raw.loadUnaligned(as: UInt64.self)
        }
        var hash = mix(head ^ UInt64(truncatingIfNeeded: count) << 59)
        if count > 8 {
            var offset = 8
            while offset + 8 < count {
                hash = mix(hash ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                offset += 8
            }
            hash = mix(hash ^ raw.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
        }
        self.hash = hash
    }
}

/// Folded 64×64→128-bit multiply: every input bit reaches the high and low halves.
@inline(__always)
private func mix(_ value: UInt64) -> UInt64 {
    let product = (value ^ 0x2D35_8DCC_AA6C_78A5).multipliedFullWidth(by: 0x8BB8_4B93_962E_ACC9)
    return product.high ^ product.low
}

/// Whether `count` bytes at `a` and `b` are equal: `memcmp` without the call, for short strings.
@inline(__always)
func bytesEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
    switch count {
    case 0:
        return true
    case 1...3:
        return a.load(as: UInt8.self) == b.load(as: UInt8.self)
            && a.load(fromByteOffset: count >> 1, as: UInt8.self) == b.load(fromByteOffset: count >> 1, as: UInt8.self)
            && a.load(fromByteOffset: count - 1, as: UInt8.self) == b.load(fromByteOffset: count - 1, as: UInt8.self)
    case 4...8:
        return a.loadUnaligned(as: UInt32.self) == b.loadUnaligned(as: UInt32.self)
            && a.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self) == b.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
    default:
        var offset = 0
        while offset + 8 < count {
            guard a.loadUnaligned(fromByteOffset: offset, as: UInt64.self) == b.loadUnaligned(fromByteOffset: offset, as: UInt64.self) else { return false }
            offset += 8
        }
        return a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
    }
}

/// The bytes of every id, end to end.
struct TokenBytes: Sendable {
    private let bytes: [UInt8]
    private let starts: [Int]  // id i is bytes[starts[i]..<starts[i + 1]]

    init(_ tokens: [[UInt8]]) {
        bytes = tokens.flatMap { $0 }
        var start = 0
        starts = [0] + tokens.map { token in
            start += token.count
            return start
        }
    }

    var count: Int { starts.count - 1 }

    subscript(id: Int32) -> ArraySlice<UInt8> { bytes[starts[Int(id)]..<starts[Int(id) + 1]] }

    /// Whether the bytes of `id` from `offset` on are the `count` bytes at `other`.
    @inline(__always)
    func equal(_ id: Int32, from offset: Int, to other: UnsafeRawPointer, count: Int) -> Bool {
        bytes.withUnsafeBufferPointer { bytesEqual($0.baseAddress! + starts[Int(id)] + offset, other, count: count) }
    }
}

/// An immutable open-addressing map from byte strings to token ids.
///
/// A slot holds the first eight bytes of its token, which is all of most tokens, so that a lookup
/// usually touches one slot and nothing else: with some 50,000 tokens the table outgrows the L2 cache,
/// and this lookup happens for nearly every word of the text.
struct TokenTable: Sendable {
    private struct Slot {
        var head: UInt64
        var id: Int32  // -1: empty
        var length: UInt32
    }

    private let slots: [Slot]
    private let mask: Int
    private let tokens: TokenBytes

    init(ids: [Int32], of tokens: TokenBytes) {
        var capacity = 16
        while capacity < ids.count * 2 { capacity *= 2 }
        var slots = [Slot](repeating: Slot(head: 0, id: -1, length: 0), count: capacity)
        for id in ids {
            let key = Array(tokens[id]).withUnsafeBufferPointer(PieceKey.init)
            var index = Int(truncatingIfNeeded: key.hash) & (capacity - 1)
            while slots[index].id >= 0 { index = (index + 1) & (capacity - 1) }
            slots[index] = Slot(head: key.head, id: id, length: UInt32(tokens[id].count))
        }
        self.slots = slots
        self.mask = capacity - 1
        self.tokens = tokens
    }

    @inline(__always)
    func id(of piece: UnsafeBufferPointer<UInt8>, key: PieceKey) -> Int32? {
        slots.withUnsafeBufferPointer { slots in
            var index = Int(truncatingIfNeeded: key.hash) & mask
            while true {
                let slot = slots[index]
                if slot.id < 0 { return nil }
                if slot.head == key.head, Int(slot.length) == piece.count,
                   piece.count <= 8 || tokens.equal(slot.id, from: 8, to: piece.baseAddress! + 8, count: piece.count - 8) {
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
/// Key and merge share a slot, so that a lookup, which usually misses the CPU caches, misses once.
struct MergeTable: Sendable {
    private struct Slot {
        var key: UInt64  // left << 32 | right; `emptyKey` when free
        var merge: Merge
    }

    private let slots: [Slot]
    private let shift: UInt64

    private static let emptyKey = UInt64.max

    init(_ entries: [(left: Int32, right: Int32, merge: Merge)]) {
        var bits: UInt64 = 4
        while 1 << bits < entries.count * 2 { bits += 1 }
        var slots = [Slot](repeating: Slot(key: Self.emptyKey, merge: .none), count: 1 << bits)
        shift = 64 - bits
        for entry in entries {
            let key = Self.key(entry.left, entry.right)
            var index = Self.index(key, shift)
            while slots[index].key != Self.emptyKey { index = (index + 1) & (slots.count - 1) }
            slots[index] = Slot(key: key, merge: entry.merge)
        }
        self.slots = slots
    }

    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> Merge {
        let key = Self.key(left, right)
        return slots.withUnsafeBufferPointer { slots in
            var index = Self.index(key, shift)
            while true {
                let slot = slots[index]
                if slot.key == key { return slot.merge }
                if slot.key == Self.emptyKey { return .none }
                index = (index + 1) & (slots.count - 1)
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
