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

@Suite struct KernelYieldTests {
    /// One small matrix product on the calling thread.
    private func product() {
        let a = [Float](repeating: 1, count: 4 * 4), b = [Float](repeating: 2, count: 4 * 4)
        var c = [Float](repeating: 0, count: 4 * 4)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    gemm(M: 4, N: 4, K: 4, a.baseAddress!, lda: 4, b.baseAddress!, ldb: 4, c.baseAddress!, ldc: 4)
                }
            }
        }
        #expect(c.allSatisfy { $0 == 8 })
    }

    @Test func theYieldHookRunsBeforeEveryMatrixProductOfItsBodyOnly() {
        nonisolated(unsafe) var calls = 0
        BLASSetup.withKernelsOnCallingThread(yield: { calls += 1 }) {
            product()
            product()
            #expect(BLASSetup.kernelThreads == 1)
        }
        #expect(calls == 2)
        product()
        #expect(calls == 2, "not outside its body")
        BLASSetup.withKernelsOnCallingThread { product() }
        #expect(calls == 2, "nor in a body without one")
    }
}
