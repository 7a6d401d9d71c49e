import Foundation
import Testing
@testable import GPT

@Suite struct TokenBagTests {
    @Test func featuresAreTheDistinctTokensAndPairsAsAUnitVector() {
        let bag = TokenBag(buckets: 1 << 18, tokens: 5, bigrams: true)
        // 5 tokens read (the 6th is beyond `tokens`): unigrams {1, 2, 3}, pairs {(1,2), (2,1), (2,3), (3,1)}.
        let f = bag.features([1, 2, 1, 2, 3, 99])
        let expected = Set([bag.slot(unigram: 1), bag.slot(unigram: 2), bag.slot(unigram: 3),
                            bag.slot(1, 2), bag.slot(2, 1), bag.slot(2, 3)])
        #expect(Set(f.slots) == expected)
        #expect(f.slots == f.slots.sorted())
        #expect(!f.slots.contains(bag.slot(unigram: 99)) && !f.slots.contains(bag.slot(3, 99)))
        #expect(abs(f.value * f.value * Float(f.slots.count) - 1) < 1e-6, "unit length")
        #expect(bag.slot(1, 2) != bag.slot(2, 1), "pairs are ordered")
        let unigramsOnly = TokenBag(buckets: 1 << 18, tokens: 5, bigrams: false).features([1, 2, 1, 2, 3])
        #expect(unigramsOnly.slots.count == 3)
        #expect(TokenBag().features([]).slots.isEmpty && TokenBag().features([]).value == 0)
    }

    /// Slots are part of a trained classifier's format: a changed hash would silently scramble every bag head.
    @Test func slotsAreStable() {
        let bag = TokenBag(buckets: 1 << 18, tokens: 16, bigrams: true)
        #expect(bag.slot(unigram: 50256) == Int32(truncatingIfNeeded: TokenBag.fmix64(50256) % (1 << 18)))
        #expect(TokenBag.fmix64(1) == 0xB456_BCFC_34C2_CB2C)
        #expect(bag.hash == "fmix64-v1")
    }
}
