import Testing
@testable import GPT

@Suite struct BLASSetupTests {
    let avx512: Set<String> = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16"]

    @Test func forcesAVX512KernelsOnlyWhenOpenBLASPickedWeakerOnes() {
        // Zen 5 as Debian's OpenBLAS 0.3.21 sees it: Haswell kernels on an AVX-512 CPU.
        #expect(BLASSetup.betterCore(than: "Haswell", flags: avx512) == "SKYLAKEX")
        #expect(BLASSetup.betterCore(than: "Zen", flags: avx512) == "SKYLAKEX")
        // Already AVX-512 kernels, or a CPU without AVX-512: leave OpenBLAS alone.
        #expect(BLASSetup.betterCore(than: "Cooperlake", flags: avx512) == nil)
        #expect(BLASSetup.betterCore(than: "SkylakeX", flags: avx512) == nil)
        #expect(BLASSetup.betterCore(than: "Haswell", flags: ["avx2", "fma"]) == nil)
    }

    @Test func readsThisMachinesFlags() {
        // Every x86-64 Linux machine lists at least sse2.
        #expect(BLASSetup.cpuFlags().contains("sse2"))
    }
}
