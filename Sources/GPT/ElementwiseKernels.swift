import Foundation
import VectorKernels
#if canImport(VectorKernelsAVX2)
import VectorKernelsAVX2
#endif
#if canImport(VectorKernelsAVX512)
import VectorKernelsAVX512
#endif

/// The engine's elementwise and per-row passes (GELU, LayerNorm, causal softmax, AdamW), taken from the copy
/// of the VectorKernels module built for the widest vectors this CPU has.
///
/// Swift compiles for baseline x86-64 (SSE2), where each 16-lane operation is four instructions; built for
/// AVX2 it is two, for AVX-512 one. With OpenBLAS on its AVX-512 kernels these passes would otherwise take a
/// sixth of a GPT-2 forward pass. The tier is chosen once from the CPU's flags; `SPAMGUARD_VECTOR_TIER`
/// (sse2, avx2, avx512) asks for a lower one, for comparison.
public struct ElementwiseKernels: Sendable {
    public enum Tier: String, Sendable, CaseIterable, Comparable {
        case sse2, avx2, avx512

        public static func < (a: Tier, b: Tier) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }

        /// The CPU flags (as /proc/cpuinfo names them) the tier's code may use: what `-target-cpu haswell`
        /// and `-target-cpu skylake-avx512` enable beyond SSE2, as far as float code goes.
        var requiredFlags: [String] {
            let avx2 = ["avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "movbe", "abm", "popcnt"]
            switch self {
            case .sse2: return []
            case .avx2: return avx2
            case .avx512: return avx2 + ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
            }
        }
    }

    public let tier: Tier
    let gelu: @Sendable (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void
    let biasGelu: @Sendable (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void
    let geluBackward: @Sendable (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, Int) -> Void
    let layernormRows: @Sendable (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                  UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, Range<Int>, Int, Float) -> Void
    let layernormBackwardRows: @Sendable (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?,
                                          UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                                          UnsafePointer<Float>, Range<Int>, Int) -> Void
    let causalSoftmaxRows: @Sendable (UnsafeMutablePointer<Float>, Int, Range<Int>, Int) -> Void
    let causalSoftmaxBackwardRows: @Sendable (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int, Range<Int>, Int) -> Void
    let adamw: @Sendable (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                          Int, Float, Float, Float, Float, Float, Float) -> Void

    /// The kernels of `tier`, or nil when this build has no copy for it (on a CPU other than x86-64).
    public init?(tier: Tier) {
        self.tier = tier
        switch tier {
        case .sse2:
            gelu = { VectorKernels.gelu($0, $1, count: $2) }
            biasGelu = { VectorKernels.biasGelu($0, $1, $2, count: $3) }
            geluBackward = { VectorKernels.geluBackward($0, $1, $2, count: $3) }
            layernormRows = { VectorKernels.layernormRows($0, $1, $2, $3, $4, $5, rows: $6, C: $7, eps: $8) }
            layernormBackwardRows = { VectorKernels.layernormBackwardRows($0, $1, $2, $3, $4, $5, $6, $7, rows: $8, C: $9) }
            causalSoftmaxRows = { VectorKernels.causalSoftmaxRows($0, T: $1, rows: $2, zeroTo: $3) }
            causalSoftmaxBackwardRows = { VectorKernels.causalSoftmaxBackwardRows($0, $1, T: $2, rows: $3, zeroTo: $4) }
            adamw = { VectorKernels.adamwUpdate(values: $0, gradients: $1, m: $2, v: $3, count: $4, beta1: $5, beta2: $6,
                                                epsilon: $7, stepSize: $8, vScale: $9, decay: $10) }
        case .avx2:
            #if canImport(VectorKernelsAVX2)
            gelu = { VectorKernelsAVX2.gelu($0, $1, count: $2) }
            biasGelu = { VectorKernelsAVX2.biasGelu($0, $1, $2, count: $3) }
            geluBackward = { VectorKernelsAVX2.geluBackward($0, $1, $2, count: $3) }
            layernormRows = { VectorKernelsAVX2.layernormRows($0, $1, $2, $3, $4, $5, rows: $6, C: $7, eps: $8) }
            layernormBackwardRows = { VectorKernelsAVX2.layernormBackwardRows($0, $1, $2, $3, $4, $5, $6, $7, rows: $8, C: $9) }
            causalSoftmaxRows = { VectorKernelsAVX2.causalSoftmaxRows($0, T: $1, rows: $2, zeroTo: $3) }
            causalSoftmaxBackwardRows = { VectorKernelsAVX2.causalSoftmaxBackwardRows($0, $1, T: $2, rows: $3, zeroTo: $4) }
            adamw = { VectorKernelsAVX2.adamwUpdate(values: $0, gradients: $1, m: $2, v: $3, count: $4, beta1: $5, beta2: $6,
                                                    epsilon: $7, stepSize: $8, vScale: $9, decay: $10) }
            #else
            return nil
            #endif
        case .avx512:
            #if canImport(VectorKernelsAVX512)
            gelu = { VectorKernelsAVX512.gelu($0, $1, count: $2) }
            biasGelu = { VectorKernelsAVX512.biasGelu($0, $1, $2, count: $3) }
            geluBackward = { VectorKernelsAVX512.geluBackward($0, $1, $2, count: $3) }
            layernormRows = { VectorKernelsAVX512.layernormRows($0, $1, $2, $3, $4, $5, rows: $6, C: $7, eps: $8) }
            layernormBackwardRows = { VectorKernelsAVX512.layernormBackwardRows($0, $1, $2, $3, $4, $5, $6, $7, rows: $8, C: $9) }
            causalSoftmaxRows = { VectorKernelsAVX512.causalSoftmaxRows($0, T: $1, rows: $2, zeroTo: $3) }
            causalSoftmaxBackwardRows = { VectorKernelsAVX512.causalSoftmaxBackwardRows($0, $1, T: $2, rows: $3, zeroTo: $4) }
            adamw = { VectorKernelsAVX512.adamwUpdate(values: $0, gradients: $1, m: $2, v: $3, count: $4, beta1: $5, beta2: $6,
                                                      epsilon: $7, stepSize: $8, vScale: $9, decay: $10) }
            #else
            return nil
            #endif
        }
    }

    /// The tiers this build has and this CPU runs, lowest first.
    public static func supportedTiers(flags: Set<String> = BLASSetup.cpuFlags()) -> [Tier] {
        Tier.allCases.filter { tier in ElementwiseKernels(tier: tier) != nil && tier.requiredFlags.allSatisfy(flags.contains) }
    }

    /// The widest supported tier, or the one `SPAMGUARD_VECTOR_TIER` names if it is supported.
    public static let best: ElementwiseKernels = {
        let supported = supportedTiers()
        let asked = ProcessInfo.processInfo.environment["SPAMGUARD_VECTOR_TIER"].flatMap { Tier(rawValue: $0.lowercased()) }
        let tier = asked.flatMap { supported.contains($0) ? $0 : nil } ?? supported.last ?? .sse2
        return ElementwiseKernels(tier: tier)!
    }()

    /// "AVX-512", "AVX2" or "SSE2", for logs and benchmark headers.
    public var name: String {
        switch tier {
        case .sse2: return "SSE2"
        case .avx2: return "AVX2"
        case .avx512: return "AVX-512"
        }
    }

    /// AdamW on one parameter group's range (see VectorKernels.adamwUpdate).
    public func adamwUpdate(values: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                            v: UnsafeMutablePointer<Float>, count: Int, beta1: Float, beta2: Float, epsilon: Float,
                            stepSize: Float, vScale: Float, decay: Float) {
        adamw(values, gradients, m, v, count, beta1, beta2, epsilon, stepSize, vScale, decay)
    }
}
