/// The decoded bytes of all text parts of a message, back to back, up to a fixed capacity.
/// Bytes past the capacity are dropped and remembered as `overflowed`.
struct TextArena: Sendable {
    private(set) var bytes: [UInt8] = []
    let capacity: Int
    private(set) var overflowed = false

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { bytes.count }
    var isFull: Bool { bytes.count >= capacity }

    mutating func append(_ byte: UInt8) {
        guard bytes.count < capacity else {
            overflowed = true
            return
        }
        makeRoom(for: 1)
        bytes.append(byte)
    }

    mutating func append(_ input: UnsafeBufferPointer<UInt8>) {
        let room = capacity - bytes.count
        makeRoom(for: min(input.count, room))
        if input.count <= room {
            bytes.append(contentsOf: input)
        } else {
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[0..<max(0, room)]))
            overflowed = true
        }
    }

    /// Grows the storage geometrically, as Array would, but never past `capacity`: the cap is
    /// the memory bound, not just the length bound.
    private mutating func makeRoom(for extra: Int) {
        let needed = bytes.count + extra
        guard needed > bytes.capacity else { return }
        bytes.reserveCapacity(min(capacity, max(needed, 2 * bytes.capacity)))
    }

    /// Records that input was dropped without being decoded because the arena is full.
    mutating func noteOverflow() { overflowed = true }

    struct Mark: Sendable {
        fileprivate let count: Int
        fileprivate let overflowed: Bool
    }

    var mark: Mark { Mark(count: bytes.count, overflowed: overflowed) }

    /// Takes back everything appended since `mark`: provisional text that turned out not to be.
    mutating func rollBack(to mark: Mark) {
        bytes.removeSubrange(mark.count...)
        overflowed = mark.overflowed
    }
}
