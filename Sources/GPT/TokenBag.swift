/// A second, linear head beside the GPT head: a message as a bag of its token ids and adjacent token pairs,
/// hashed into `buckets` slots, each distinct feature valued 1/√(distinct features) (a unit vector), and a weight
/// per slot and class. It reads more of the message than the body's window (`tokens`, typically thousands), at
/// the cost of a few thousand multiply-adds; what it adds to the classifier is measured in the README.
///
/// The slot of a feature is part of a trained classifier's format: `slot(unigram:)` and `slot(_:_:)` must never
/// change for a given `hash` name.
public struct TokenBag: Sendable, Hashable, Codable {
    /// Slots of the hashed feature space (D).
    public var buckets: Int
    /// The first this many tokens of a message enter the bag.
    public var tokens: Int
    /// Adjacent token pairs enter the bag too.
    public var bigrams: Bool
    /// The hash that places features in slots; only `fmix64` exists.
    public var hash = Self.fmix64Name

    /// The name of the one hash there is (MurmurHash3's 64-bit finaliser), as manifests record it.
    public static let fmix64Name = "fmix64-v1"

    public init(buckets: Int = 1 << 18, tokens: Int = 4096, bigrams: Bool = true) {
        precondition(buckets >= 1 && tokens >= 1, "a token bag needs a positive size")
        self.buckets = buckets
        self.tokens = tokens
        self.bigrams = bigrams
    }

    /// Decoded with the same checks as `init`: a bag read from a damaged manifest is a clear error, not a
    /// division by zero at the first message.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        buckets = try c.decode(Int.self, forKey: .buckets)
        tokens = try c.decode(Int.self, forKey: .tokens)
        bigrams = try c.decode(Bool.self, forKey: .bigrams)
        hash = try c.decode(String.self, forKey: .hash)
        guard buckets >= 1, tokens >= 1 else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "a token bag needs positive buckets and tokens, got \(buckets) and \(tokens)"))
        }
        guard hash == Self.fmix64Name else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "unknown token bag hash \"\(hash)\" (this spamguard knows \(Self.fmix64Name))"))
        }
    }

    /// The slot of a token id.
    @inline(__always) public func slot(unigram t: Int32) -> Int32 {
        Int32(truncatingIfNeeded: Self.fmix64(UInt64(UInt32(bitPattern: t))) % UInt64(buckets))
    }

    /// The slot of the pair (a, b), a followed by b.
    @inline(__always) public func slot(_ a: Int32, _ b: Int32) -> Int32 {
        let key = (UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))) ^ 0x9E37_79B9_7F4A_7C15
        return Int32(truncatingIfNeeded: Self.fmix64(key) % UInt64(buckets))
    }

    /// MurmurHash3's 64-bit finaliser.
    @inline(__always) static func fmix64(_ x: UInt64) -> UInt64 {
        var k = x
        k ^= k >> 33; k &*= 0xFF51_AFD7_ED55_8CCD
        k ^= k >> 33; k &*= 0xC4CE_B9FE_1A85_EC53
        k ^= k >> 33
        return k
    }

    /// The features of a message's token ids (only the first `tokens` are read).
    public func features(_ ids: [Int32]) -> TokenBagFeatures {
        let n = min(ids.count, tokens)
        var slots = Set<Int32>(minimumCapacity: 2 * n)
        for i in 0..<n {
            slots.insert(slot(unigram: ids[i]))
            if bigrams && i + 1 < n { slots.insert(slot(ids[i], ids[i + 1])) }
        }
        return TokenBagFeatures(slots: slots.sorted())
    }
}

/// One message's bag: the distinct slots present, each with the same value 1/√count (zero slots: an empty bag).
public struct TokenBagFeatures: Sendable, Hashable {
    public let slots: [Int32]
    public let value: Float
    public init(slots: [Int32]) {
        self.slots = slots
        value = slots.isEmpty ? 0 : 1 / Float(slots.count).squareRoot()
    }
}

/// logits[B,K] += bag_b · Vᵀ: for each example b and class k, value_b · Σ_{s ∈ slots_b} V[k,s].  V is [K,D].
func tokenBagForward(_ logits: UnsafeMutablePointer<Float>, _ V: UnsafePointer<Float>, _ bags: [TokenBagFeatures], D: Int, K: Int) {
    for (b, bag) in bags.enumerated() {
        for k in 0..<K {
            let row = V + k * D
            var sum: Float = 0
            for s in bag.slots { sum += row[Int(s)] }
            logits[b * K + k] += bag.value * sum
        }
    }
}

/// dV[K,D] += dlogits[B,K] ⊗ bags: dV[k,s] += dlogits[b,k] · value_b for each slot s of example b.
func tokenBagBackward(_ dV: UnsafeMutablePointer<Float>, _ dlogits: UnsafePointer<Float>, _ bags: [TokenBagFeatures], D: Int, K: Int) {
    for (b, bag) in bags.enumerated() {
        for k in 0..<K {
            let g = dlogits[b * K + k] * bag.value, row = dV + k * D
            for s in bag.slots { row[Int(s)] += g }
        }
    }
}
